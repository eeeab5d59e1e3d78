import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Secret } from '../../src/shared/secret.ts';
import { ShotgunClient, type ShotgunClientOptions } from '../../src/shotgrid/index.ts';

/** One request as the fake site saw it. */
export interface RecordedRequest {
  path: string;
  /** The client's port: the same port means the same (kept-alive) connection. */
  remotePort: number | undefined;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body. */
  body: { method_name: string; params: unknown[] };
}

/** What the fake site does with one request. */
export type Reply =
  | { json: unknown; status?: number; contentType?: string }
  | { raw: string; status?: number; contentType?: string }
  /** Drop the connection without an answer. */
  | { destroy: true }
  /** Never answer (until the site closes). */
  | { hang: true }
  /** Send the headers and half a body, then stall (until the site closes). */
  | { stall: true }
  /** Send the headers and half a body, then drop the connection. */
  | { truncate: true };

export type Handler = (req: RecordedRequest, index: number) => Reply | undefined;

export interface FakeSite {
  url: string;
  requests: RecordedRequest[];
  /** Requests other than `info`. */
  calls(method?: string): RecordedRequest[];
  close(): Promise<void>;
}

export const DEFAULT_INFO = { version: [8, 20, 0], full_version: [8, 20, 0, 1], api_max_entities_per_page: 500 };

/**
 * A small HTTP server on 127.0.0.1 that records every api3 request and
 * answers from a script: `info` with `info` unless the handler answers it,
 * everything else with the handler's reply (default `{results: null}`).
 */
export async function startFakeSite(
  handler: Handler = () => undefined,
  options: { info?: unknown } = {},
): Promise<FakeSite> {
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
      const rec: RecordedRequest = { path: req.url ?? '', remotePort: req.socket.remotePort, headers: req.headers, body };
      requests.push(rec);
      let reply = handler(rec, requests.length - 1);
      if (reply === undefined) {
        reply = body.method_name === 'info' ? { json: options.info ?? DEFAULT_INFO } : { json: { results: null } };
      }
      if ('destroy' in reply) {
        req.socket.destroy();
        return;
      }
      if ('hang' in reply) {
        hanging.add(res);
        return;
      }
      if ('stall' in reply || 'truncate' in reply) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"results": {"entities": [');
        if ('truncate' in reply) res.socket?.destroy();
        else hanging.add(res);
        return;
      }
      const text = 'json' in reply ? JSON.stringify(reply.json) : reply.raw;
      // An empty contentType sends no content-type header at all.
      const ct = reply.contentType ?? 'application/json; charset=utf-8';
      res.writeHead(reply.status ?? 200, ct === '' ? {} : { 'content-type': ct });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    calls: (method?: string) =>
      requests.filter((r) => r.body.method_name !== 'info' && (method === undefined || r.body.method_name === method)),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const SCRIPT_KEY = 'k3y-Very-Secret-0123456789';

/** A client on the fake site with script auth and fast retries. */
export function clientFor(site: FakeSite, options: Partial<ShotgunClientOptions> = {}): ShotgunClient {
  return new ShotgunClient({
    baseUrl: site.url,
    auth: { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret(SCRIPT_KEY) },
    retryDelayMs: 1,
    timeoutMs: 5_000,
    ...options,
  });
}

/** The method params (params[1]) of a recorded request. */
export function methodParams(r: RecordedRequest | undefined): unknown {
  if (!r) throw new Error('no such request');
  return r.body.params[1];
}

/** The auth params (params[0]) of a recorded request. */
export function authParams(r: RecordedRequest | undefined): unknown {
  if (!r) throw new Error('no such request');
  return r.body.params[0];
}
