import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { DaemonMetrics } from '../../src/metrics/index.ts';
import {
  startHttpServer, statusDocumentSchema, isLoopbackHost, type HttpServerHandle, type StatusSource, type DaemonStatusLike,
} from '../../src/http/index.ts';
import type { Daemon } from '../../src/daemon/index.ts';
import { Secret, type SgeventdError } from '../../src/shared/index.ts';
import { parsePromText, sampleValue } from '../metrics/prom-text.ts';
import { sampleStatus } from './fake-status.ts';

// The daemon must keep satisfying both structural inputs (checked by tsc, not at run time).
export const daemonIsAStatusSource = (d: Daemon): StatusSource => d;
export const daemonFeedsMetrics = (d: Daemon): ConstructorParameters<typeof DaemonMetrics>[0] => ({ status: () => d.status() });

const TOKEN = 'tok-3f9a1c77e2b04d5d9c1e';

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const servers: HttpServerHandle[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(opts: { status?: StatusSource; token?: string; host?: string; fetchIntervalMs?: number; metrics?: DaemonMetrics } = {}) {
  const { logger, lines } = captureLogger();
  const status = opts.status ?? { status: () => sampleStatus() };
  const metrics = opts.metrics ?? new DaemonMetrics({ status: () => sampleStatus() });
  const server = await startHttpServer({
    config: { host: opts.host ?? '127.0.0.1', port: 0, ...(opts.token !== undefined ? { token: new Secret(opts.token) } : {}) },
    status, metrics, logger,
    ...(opts.fetchIntervalMs !== undefined ? { fetchIntervalMs: opts.fetchIntervalMs } : {}),
  });
  servers.push(server);
  return { server, lines, metrics };
}

/** Sends raw bytes and returns everything the server wrote before closing. */
function rawRequest(url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(raw));
    let out = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (d: Buffer) => (out += d.toString()));
    socket.on('error', (err) => (out ? resolve(out) : reject(err)));
    socket.on('close', () => resolve(out));
  });
}

function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
}

describe('status server routes', () => {
  it('serves the page with the status in it', async () => {
    const { server } = await start();
    const res = await get(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    for (const text of ['https://studio.shotgrid.example', 'log_events', 'shot_toolkit', 'status_changed', 'deactivated', 'v0.20.17', 'v0.23.6', '1333']) {
      assert.ok(html.includes(text), `page shows ${text}`);
    }
    assert.match(html, /<meta http-equiv="refresh" content="5">/);
    assert.match(html, /data-testid="lag">299</, 'lag is the largest plugin lag');
    assert.match(html, /data-testid="newest-event">1500</);
  });

  it('serves the same data as JSON', async () => {
    const { server } = await start();
    const res = await get(`${server.url}/api/status`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = statusDocumentSchema.parse(await res.json());
    const expected = sampleStatus();
    assert.equal(doc.site, expected.site);
    assert.equal(doc.newestEventId, 1500);
    assert.equal(doc.lag, 299);
    assert.equal(doc.siteErrors, 2);
    assert.ok(doc.lastPollAgeMs >= 2000 && doc.lastPollAgeMs < 60_000, `poll age ${doc.lastPollAgeMs}`);
    assert.deepEqual(doc.plugins.map((p) => [p.name, p.status, p.lastEventId, p.backlog, p.lag, p.processed, p.failed]), [
      ['log_events', 'running', 1500, 0, 0, 812, 0],
      ['shot_toolkit', 'running', 1458, 3, 42, 96, 1],
      ['status_changed', 'deactivated', 1201, 0, 299, 40, 3],
    ]);
    assert.deepEqual(doc.runtimes.map((r) => [r.projects, r.coreVersion, r.pid, r.state]), [[[122], 'v0.20.17', 5001, 'ready'], [[123, 124], 'v0.23.6', 5002, 'busy']]);
    assert.deepEqual(doc.deadLetters?.map((d) => [d.id, d.plugin, d.callback, d.eventId]), [[7, '/plugins/shot_toolkit', 'on_shot', 1333]]);
  });

  it('accepts an async status source and reports dead letters as unavailable when it has none', async () => {
    const { server } = await start({ status: { status: () => Promise.resolve({ ...sampleStatus(), deadLetters: undefined }) } });
    const doc = statusDocumentSchema.parse(await (await get(`${server.url}/api/status`)).json());
    assert.equal(doc.deadLetters, null);
    assert.match(await (await get(`${server.url}/`)).text(), /dlq ls/);
  });

  it('serves Prometheus text whose counters move as callbacks are observed', async () => {
    const { server, metrics } = await start();
    const scrape = async () => {
      const res = await get(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parsePromText(await res.text());
    };
    const before = await scrape();
    assert.equal(sampleValue(before, 'sgeventd_lag_events', { plugin: 'status_changed' }), 299);
    assert.equal(sampleValue(before, 'sgeventd_events_processed_total', { plugin: 'log_events' }), undefined);
    metrics.observeCallback({ plugin: 'log_events', callback: 'onEvent', durationMs: 2, error: null });
    metrics.observeCallback({ plugin: 'log_events', callback: 'onEvent', durationMs: 2, error: null });
    metrics.observeCallback({ plugin: 'shot_toolkit', callback: 'onShot', durationMs: 200, error: 'RuntimeCrashed' });
    const afterText = await scrape();
    assert.equal(sampleValue(afterText, 'sgeventd_events_processed_total', { plugin: 'log_events' }), 2);
    assert.equal(sampleValue(afterText, 'sgeventd_events_failed_total', { plugin: 'shot_toolkit' }), 1);
    assert.equal(sampleValue(afterText, 'sgeventd_callback_duration_seconds_count', { plugin: 'log_events', callback: 'onEvent' }), 2);
  });

  it('answers 404, 405 and HEAD without a body', async () => {
    const { server } = await start();
    assert.equal((await get(`${server.url}/nope`)).status, 404);
    const post = await get(`${server.url}/api/status`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await post.json()) as { code: string }).code, 'HTTP_METHOD_NOT_ALLOWED');
    const head = await get(`${server.url}/api/status`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0);
    assert.equal(await head.text(), '');
    const withQuery = await get(`${server.url}/api/status?x=1`);
    assert.equal(withQuery.status, 200);
    await withQuery.body?.cancel();
  });

  it('refuses a body on a GET and oversized headers', async () => {
    const { server } = await start();
    const withBody = await rawRequest(server.url, 'GET /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
    assert.match(withBody, /^HTTP\/1\.1 400 /);
    assert.match(withBody, /HTTP_BODY_NOT_ALLOWED/);
    const big = await rawRequest(server.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
  });

  it('answers 500 with a code when the status source throws, and logs it', async () => {
    const { server, lines } = await start({ status: { status: () => { throw new Error('engine gone'); } } });
    const res = await get(`${server.url}/api/status`);
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { code: string }).code, 'HTTP_INTERNAL');
    assert.ok(lines.some((l) => l.includes('engine gone')));
  });

  it('close() is idempotent and stops serving', async () => {
    const { server } = await start();
    await Promise.all([server.close(), server.close()]);
    await server.close();
    await assert.rejects(get(`${server.url}/healthz`));
  });

  it('fails with HTTP_LISTEN_FAILED when the port is taken', async () => {
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      await assert.rejects(
        startHttpServer({ config: { host: '127.0.0.1', port }, status: { status: () => sampleStatus() }, metrics: new DaemonMetrics(), logger: captureLogger().logger }),
        (err: SgeventdError) => err.code === 'HTTP_LISTEN_FAILED' && err.details['port'] === port,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('status page escaping', () => {
  it('escapes plugin errors, names, event data and dead letters', async () => {
    const evil = '<script>window.pwned=1</script><img src=x onerror="alert(1)">';
    const base = sampleStatus();
    const status: DaemonStatusLike = {
      ...base,
      site: 'https://x.example/"><script>1</script>',
      plugins: [{ ...base.plugins[0]!, name: `n${evil}`, id: `"'><b>`, lastError: `ValueError: ${evil}` }],
      runtimes: [{ ...base.runtimes[0]!, coreVersion: evil, key: evil }],
      deadLetters: [{ ...base.deadLetters![0]!, error: evil, callback: evil, pluginId: evil }],
    };
    const { server } = await start({ status: { status: () => status } });
    const html = await (await get(`${server.url}/`)).text();
    assert.ok(!html.includes('<script>'), 'no script tag from data');
    assert.ok(!html.includes('<img'), 'no img tag from data');
    assert.ok(!html.includes('"><b>'), 'no attribute breakout');
    assert.ok(html.includes('ValueError: &lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'));
  });
});

describe('status server auth', () => {
  it('with a token: 401 without or with a wrong one, 200 with it; /healthz stays open', async () => {
    const { server, lines } = await start({ token: TOKEN });
    for (const path of ['/', '/api/status', '/metrics', '/nope']) {
      const none = await get(`${server.url}${path}`);
      assert.equal(none.status, 401, `${path} without token`);
      assert.equal(((await none.json()) as { code: string }).code, 'HTTP_UNAUTHORIZED');
      const wrong = await get(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
      await wrong.body?.cancel();
      const prefix = await get(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
      assert.equal(prefix.status, 401, `${path} with a prefix of the token`);
      await prefix.body?.cancel();
      const basic = await get(`${server.url}${path}`, { headers: { authorization: `Basic ${TOKEN}` } });
      assert.equal(basic.status, 401, `${path} with another scheme`);
      await basic.body?.cancel();
    }
    for (const path of ['/', '/api/status', '/metrics']) {
      const ok = await get(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200, `${path} with the token`);
      assert.ok(!(await ok.text()).includes(TOKEN), `${path} does not show the token`);
    }
    const health = await get(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.ok(!(await health.text()).includes(TOKEN));
    assert.ok(lines.length > 0, 'the server logged');
    assert.ok(!lines.some((l) => l.includes(TOKEN)), 'no log line holds the token');
  });

  it('refuses a non-loopback host without a token, and starts with one', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'studio-box.local']) {
      await assert.rejects(
        startHttpServer({ config: { host, port: 0 }, status: { status: () => sampleStatus() }, metrics: new DaemonMetrics(), logger: captureLogger().logger }),
        (err: SgeventdError) => err.code === 'HTTP_TOKEN_REQUIRED' && err.details['value'] === host,
        host,
      );
    }
    await assert.rejects(
      startHttpServer({ config: { host: '0.0.0.0', port: 0, token: new Secret('') }, status: { status: () => sampleStatus() }, metrics: new DaemonMetrics(), logger: captureLogger().logger }),
      (err: SgeventdError) => err.code === 'HTTP_TOKEN_REQUIRED',
      'an empty token is no token',
    );
    const { server } = await start({ host: '0.0.0.0', token: TOKEN });
    const port = new URL(server.url).port;
    const res = await get(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'example.com', '128.0.0.1', '']) assert.equal(isLoopbackHost(h), false, h);
  });
});

describe('/healthz', () => {
  it('200 with the poll age while polls are recent', async () => {
    const { server } = await start({ fetchIntervalMs: 1000 });
    const res = await get(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { ok: boolean; lastPollAgeMs: number };
    assert.equal(body.ok, true);
    assert.ok(body.lastPollAgeMs >= 2000 && body.lastPollAgeMs < 30_000);
  });

  it('503 with the reason when the last successful poll is older than max(3 × fetchIntervalMs, 30 s)', async () => {
    const stale = new Date(Date.now() - 45_000).toISOString();
    const { server } = await start({ status: { status: () => sampleStatus({ lastSuccessfulReadAt: stale }) }, fetchIntervalMs: 2000 });
    const res = await get(`${server.url}/healthz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { ok: boolean; reason: string; lastPollAgeMs: number; limitMs: number };
    assert.equal(body.ok, false);
    assert.equal(body.reason, 'poll-stale');
    assert.equal(body.limitMs, 30_000);
    assert.ok(body.lastPollAgeMs >= 45_000);

    // A slow fetch interval widens the window: 45 s is fine at 20 s × 3.
    const { server: slow } = await start({ status: { status: () => sampleStatus({ lastSuccessfulReadAt: stale }) }, fetchIntervalMs: 20_000 });
    const ok = await get(`${slow.url}/healthz`);
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { limitMs: number }).limitMs, 60_000);
  });

  it('counts from the start before the first successful poll', async () => {
    const justStarted = { status: () => sampleStatus({ startedAt: new Date().toISOString(), lastSuccessfulReadAt: null, lastPollAt: null }) };
    const { server } = await start({ status: justStarted });
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
    const neverPolled = { status: () => sampleStatus({ lastSuccessfulReadAt: null, lastPollAt: null }) };
    const { server: old } = await start({ status: neverPolled });
    const res = await get(`${old.url}/healthz`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { reason: string }).reason, 'poll-stale');
  });

  it('stays 200 (idle) with a stale poll when no plugin is running', async () => {
    const base = sampleStatus({ lastSuccessfulReadAt: new Date(Date.now() - 600_000).toISOString() });
    const idle = { ...base, plugins: base.plugins.map((p) => ({ ...p, status: 'deactivated' })) };
    const { server } = await start({ status: { status: () => idle } });
    const res = await get(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { idle?: boolean }).idle, true);
  });

  it('503 status-unavailable when the status source fails', async () => {
    const { server } = await start({ status: { status: () => Promise.reject(new Error('no engine')) } });
    const res = await get(`${server.url}/healthz`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { reason: string }).reason, 'status-unavailable');
  });
});
