// The CLI asks its daemon over a plain socket (cli/daemon-request.ts) rather
// than fetch or node:http, which cost more to load than the rest of `status`.
// Checked here against Node's own HTTP server and against what is not one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { daemonRequest } from '../../src/cli/daemon-request.ts';
import { SgeventdError } from '../../src/shared/index.ts';
import { onCleanup, type Cleanup } from '../support/index.ts';

const coded = (code: string) => (err: unknown): boolean => err instanceof SgeventdError && err.code === code;

async function listening(t: Cleanup, server: Server): Promise<string> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('daemonRequest: one HTTP/1.1 request on a plain socket', () => {
  it('sends the method, path, query and headers, and reads a sized or a chunked answer', async (t) => {
    const seen: string[] = [];
    const server = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['authorization'] ?? '-'} ${String(req.headers['x-sgeventd-action'] ?? '-')}`);
      if (req.url?.startsWith('/chunked')) {
        res.write('{"a":');
        setImmediate(() => res.end('"é"}'));
        return;
      }
      const body = JSON.stringify({ path: req.url });
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    server.keepAliveTimeout = 60_000;
    const base = await listening(t, server);
    const sized = await daemonRequest(base, 'GET', '/api/status', { authorization: 'Bearer t0k' }, 10_000);
    assert.deepEqual([sized.status, JSON.parse(sized.body)], [200, { path: '/api/status' }]);
    const chunked = await daemonRequest(base, 'POST', '/chunked?plugin=a%20b', { 'x-sgeventd-action': 'reload' }, 10_000);
    assert.deepEqual([chunked.status, JSON.parse(chunked.body)], [200, { a: 'é' }]);
    assert.equal((await daemonRequest(base, 'GET', '/missing', {}, 10_000)).status, 404);
    assert.deepEqual(seen, ['GET /api/status Bearer t0k -', 'POST /chunked?plugin=a%20b - reload', 'GET /missing - -']);
  });

  it('DAEMON_API_FAILED for a port where nothing listens, an answer that is not HTTP, one cut short, silence, and a header with a line break', async (t) => {
    // A port that was just free: listened on, then closed.
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const nowhere = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(daemonRequest(nowhere, 'GET', '/api/status', {}, 10_000), coded('DAEMON_API_FAILED'));
    const garbage = await listening(t, createNetServer((s) => s.end('SSH-2.0-OpenSSH\r\n\r\n')));
    await assert.rejects(daemonRequest(garbage, 'GET', '/', {}, 10_000), coded('DAEMON_API_FAILED'));
    const short = await listening(t, createNetServer((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc')));
    await assert.rejects(daemonRequest(short, 'GET', '/', {}, 10_000), coded('DAEMON_API_FAILED'));
    const silent = await listening(t, createNetServer());
    await assert.rejects(daemonRequest(silent, 'GET', '/', {}, 200), (err: unknown) => coded('DAEMON_API_FAILED')(err) && (err as SgeventdError).details['timeoutMs'] === 200);
    await assert.rejects(daemonRequest(garbage, 'GET', '/', { authorization: 'Bearer a\r\nx-evil: 1' }, 10_000), coded('DAEMON_API_FAILED'));
  });
});
