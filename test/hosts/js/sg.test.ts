import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerPluginHost } from '../../../src/hosts/index.ts';
import { captureLogger, fixtureHost, makeEvent, within } from './helpers.ts';

interface Call {
  method: string;
  auth: Record<string, unknown>;
}

async function startApi3(): Promise<{ url: string; calls: Call[]; close: () => Promise<void> }> {
  const calls: Call[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method_name: string; params: unknown[] };
      const auth = (body.params[0] ?? {}) as Record<string, unknown>;
      calls.push({ method: body.method_name, auth });
      let results: unknown;
      if (body.method_name === 'info') results = { version: [8, 50, 0], api_max_entities_per_page: 500 };
      else if (body.method_name === 'read') results = { entities: [{ type: 'Shot', id: 7, code: 'SH007' }], paging_info: { entity_count: 1, has_next_page: false } };
      else results = null;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ results }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('ctx.sg', () => {
  const hosts: WorkerPluginHost[] = [];
  const servers: { close: () => Promise<void> }[] = [];
  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await Promise.all(servers.map((s) => s.close()));
  });

  for (const useSessionUuid of [false, true]) {
    it(`reads through a client authenticated as the callback's script (useSessionUuid=${useSessionUuid})`, async () => {
      const api = await startApi3();
      servers.push(api);
      const { logger, records } = captureLogger();
      const host = fixtureHost('uses-sg.ts', { logger, siteUrl: api.url, useSessionUuid });
      hosts.push(host);
      assert.ok((await within(host.load(), 30_000, 'load')).ok);
      const result = await within(host.process(makeEvent(70, 'x', null, { session_uuid: 'uuid-70' })), 30_000, 'process');
      assert.equal(result.outcome, 'ok', JSON.stringify(result));
      const read = records.find((r) => r.msg === 'read');
      assert.deepEqual(read?.shot, { type: 'Shot', id: 7, code: 'SH007' });
      const readCall = api.calls.find((c) => c.method === 'read');
      assert.equal(readCall?.auth.script_name, 'sg_script');
      assert.equal(readCall?.auth.script_key, 'sg-key-abcdef');
      assert.equal(readCall?.auth.session_uuid, useSessionUuid ? 'uuid-70' : undefined);
      // The key went over the wire, never into a log record.
      assert.ok(!JSON.stringify(records).includes('sg-key-abcdef'));
    });
  }
});
