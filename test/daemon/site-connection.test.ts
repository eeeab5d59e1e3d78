import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/index.ts';
import { check } from '../../src/daemon/index.ts';
import { startSite } from '../../src/site/index.ts';

/** An HTTP proxy on loopback (forwarding and CONNECT) that counts what went through it. */
async function startProxy(): Promise<{ url: string; passed: () => number; close: () => Promise<void> }> {
  let passed = 0;
  const server: Server = createServer((req, res) => {
    passed += 1;
    const target = new URL(req.url ?? '/');
    const out = request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  server.on('connect', (req, client, head) => {
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '127.0.0.1', () => {
      passed += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `127.0.0.1:${port}`,
    passed: () => passed,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('the site connection every command uses', () => {
  it('`check` reaches the site through site.proxy', async (t) => {
    const site = await startSite({ seed: 'demo' });
    t.after(() => site.close());
    const proxy = await startProxy();
    t.after(() => proxy.close());
    const config = parseConfig({ site: { url: site.url, script: { name: 'sgeventd', key: 'sgeventd-key' }, proxy: proxy.url }, http: { enabled: false } }, { source: 'proxy-test', env: {} });
    const lines = await check(config, { toolkit: false });
    assert.deepEqual(lines.filter((l) => l.what === 'site').map((l) => [l.what, l.ok]), [['site', true]], JSON.stringify(lines));
    assert.ok(proxy.passed() > 0, 'the requests went through the proxy');
  });
});
