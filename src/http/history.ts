import { z } from 'zod';

const pointSchema = z.object({ at: z.number(), value: z.number().nullable() });

/** The body of `GET /api/history` (metrics/history.ts `HistoryDocument`); clients parse it with this schema. */
export const historyDocumentSchema = z.object({
  sampleMs: z.number(),
  windowMs: z.number(),
  eventsPerSecond: z.array(pointSchema),
  handledPerSecond: z.array(pointSchema),
  lag: z.record(z.string(), z.array(pointSchema)),
});

export type HistoryDocumentWire = z.infer<typeof historyDocumentSchema>;
