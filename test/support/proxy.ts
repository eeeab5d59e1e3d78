// An HTTP proxy on loopback that counts what goes through it: CONNECT
// tunnels (shotgun_api3 tunnels every request, as httplib2 does) and
// absolute-form requests (undici forwards plain-http requests that way).
// Tunnels to a plain-http site carry readable requests, so the api3 method
// of every request is recorded either way.
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { onCleanup, type Cleanup } from './cleanup.ts';

export interface TestProxy {
  /** `http://127.0.0.1:PORT`, for `site.proxy`. */
  readonly url: string;
  /** CONNECT tunnels opened so far. */
  readonly tunnels: number;
  /** Tunnels ended so far (either side closed: the site closing an idle connection ends its tunnel). */
  readonly closedTunnels: number;
  /** Absolute-form requests forwarded so far. */
  readonly forwarded: number;
  /** Holds each piece of the site's answers this long before passing it on (a slow site, behind the proxy); 0 by default. */
  delayMs: number;
  /** The api3 `method_name` of every request that went through, in order seen per connection. */
  methods(): string[];
}

const METHOD = /"method_name"\s*:\s*"(\w+)"/g;

/** Starts the proxy; it stops (every connection cut) when the test ends. */
export async function withProxy(t: Cleanup): Promise<TestProxy> {
  const streams: string[] = [];
  const sockets = new Set<Socket>();
  const upstream = new Agent({ keepAlive: true });
  let tunnels = 0;
  let forwarded = 0;
  let closedTunnels = 0;

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    forwarded++;
    const at = streams.push('') - 1;
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const out = httpRequest(target, { method: req.method, headers, agent: upstream }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => { streams[at] += chunk.toString('latin1'); });
    req.pipe(out);
  };

  const server = createServer(forward);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    tunnels++;
    const at = streams.push(head.toString('latin1')) - 1;
    // The site's answers go back in order, each piece held `delayMs` first.
    let back = Promise.resolve();
    const later = (step: () => void): void => {
      const d = proxy.delayMs;
      back = back.then(() => (d > 0 ? sleep(d) : undefined)).then(step, step);
    };
    const up = connect(Number(port), host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      client.on('data', (chunk: Buffer) => { streams[at] += chunk.toString('latin1'); });
      client.pipe(up);
      up.on('data', (chunk: Buffer) => later(() => { if (!client.destroyed) client.write(chunk); }));
    });
    sockets.add(up);
    up.once('close', () => {
      sockets.delete(up);
      closedTunnels++;
      // The site closed it: the client's end goes too, as a real proxy does.
      later(() => client.destroy());
    });
    client.once('close', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  onCleanup(t, async () => {
    for (const s of sockets) s.destroy();
    upstream.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const proxy: TestProxy = {
    delayMs: 0,
    url: `http://127.0.0.1:${port}`,
    get tunnels() {
      return tunnels;
    },
    get closedTunnels() {
      return closedTunnels;
    },
    get forwarded() {
      return forwarded;
    },
    methods() {
      return streams.flatMap((s) => [...s.matchAll(METHOD)].map((m) => m[1] ?? ''));
    },
  };
  return proxy;
}
