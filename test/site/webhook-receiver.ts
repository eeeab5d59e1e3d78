import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { onCleanup, type Cleanup } from '../support/index.ts';

/** One request the receiver got: raw body bytes as sent, parsed JSON, headers. */
export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: { data: Record<string, unknown> & { deliveries?: Array<Record<string, unknown>> }; timestamp: string };
  /** What `onRequest` returned before the answer (e.g. whether the row was readable). */
  note?: unknown;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Event log ids in the order their deliveries arrived (batch items flattened). */
  eventIds(): number[];
}

/**
 * A tiny webhook consumer on a loopback port. `answer` decides the status for each
 * request (`'hang'` keeps the request open until the test ends); `onRequest` runs
 * before the answer and its result is kept as `note`.
 */
export async function startReceiver(t: Cleanup, opts: {
  answer?: (r: Received) => number | 'hang';
  onRequest?: (r: Received) => Promise<unknown>;
  /** Headers sent with every answer (a `location` for a redirect). */
  answerHeaders?: Record<string, string>;
} = {}): Promise<Receiver> {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: Received = { headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) as Received['body'] };
      const finish = async (): Promise<void> => {
        if (opts.onRequest !== undefined) r.note = await opts.onRequest(r);
        received.push(r);
        const status = opts.answer?.(r) ?? 200;
        if (status === 'hang') {
          hanging.add(res);
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json', ...opts.answerHeaders });
        res.end('{}');
      };
      finish().catch((err: unknown) => {
        res.writeHead(599);
        res.end(String(err));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(t, async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/shotgrid`,
    received,
    eventIds: () => received.flatMap((r) => (r.body.data.deliveries ?? [r.body.data]).map((d) => Number(d['event_log_entry_id']))),
  };
}
