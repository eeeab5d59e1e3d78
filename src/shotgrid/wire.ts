import { z } from 'zod';
import { ShotgunTransportError } from './errors.ts';

// Schemas of what the site answers. Loose objects: a site may add keys.

/** `{exception: true, error_code, message}`: a fault (shotgun.py _response_errors). */
export const FaultBody = z.looseObject({
  exception: z.literal(true),
  error_code: z.number().optional(),
  message: z.string().optional(),
});

export const InfoBody = z.looseObject({
  version: z.array(z.union([z.number(), z.string()])).min(3).refine(
    (v) => typeof v[0] === 'number' && typeof v[1] === 'number' && typeof v[2] === 'number',
    'version starts with three numbers',
  ),
});

export const RecordBody = z.looseObject({ type: z.string(), id: z.number() });

/** A record of a read page, checked where it is (a page has hundreds: no copies). */
const ReadRecord = z.custom<z.infer<typeof RecordBody>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string' && typeof (v as { id?: unknown }).id === 'number',
  'expected a record with a string type and a numeric id',
);

export const ReadResults = z.looseObject({
  entities: z.array(ReadRecord).optional(),
  paging_info: z
    .looseObject({ entity_count: z.number().optional(), has_next_page: z.boolean().optional() })
    .optional(),
});

export const BoolResult = z.boolean();

export const BatchResults = z.array(z.union([RecordBody, z.boolean()]));

export const SummarizeBody = z.looseObject({
  summaries: z.record(z.string(), z.unknown()),
  groups: z.array(z.looseObject({})).default([]),
});

export const SchemaBody = z.record(z.string(), z.record(z.string(), z.unknown()));

export const SessionTokenBody = z.looseObject({ session_id: z.string().min(1) });

/** A 2xx answer whose shape is not what the protocol promises. */
export function badResponse(method: string, cause: unknown): ShotgunTransportError {
  return new ShotgunTransportError('SG_BAD_RESPONSE', `the site's answer to ${method} has an unexpected shape`, {
    method,
    attempts: 1,
    cause,
  });
}

/** Parses an answer with `schema`, or throws SG_BAD_RESPONSE. */
export function parseWire<T extends z.ZodType>(schema: T, value: unknown, method: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw badResponse(method, r.error);
  return r.data;
}
