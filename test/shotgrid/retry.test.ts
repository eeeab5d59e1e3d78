// Retries: reads, info, schema and summarize retry on 502/503/504, dropped
// connections and timeouts; writes never retry (no duplicate creates).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { ShotgunTransportError } from '../../src/shotgrid/index.ts';
import { clientFor, startFakeSite, type Reply } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

const okRead: Reply = { json: { results: { entities: [{ type: 'Shot', id: 1 }], paging_info: { has_next_page: false } } } };

/** Answers the first `failures` calls of `method` with `bad`, then normally. */
function flaky(method: string, failures: number, bad: Reply, good: Reply) {
  let seen = 0;
  return startFakeSite((req) => {
    if (req.body.method_name !== method) return undefined;
    seen += 1;
    return seen <= failures ? bad : good;
  });
}

describe('retries for reads', () => {
  for (const status of [502, 503, 504]) {
    it(`find retries after HTTP ${status} and succeeds`, async (t) => {
      const site = await flaky('read', 2, { raw: 'busy', status, contentType: 'text/html' }, okRead);
      const sg = clientFor(site);
      onCleanup(t, () => site.close());
      onCleanup(t, () => sg.close());
      assert.deepEqual(await sg.find('Shot', []), [{ type: 'Shot', id: 1 }]);
      assert.equal(site.calls('read').length, 3);
    });
  }

  it('find retries after a dropped connection', async (t) => {
    const site = await flaky('read', 1, { destroy: true }, okRead);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', []), [{ type: 'Shot', id: 1 }]);
    assert.equal(site.calls('read').length, 2);
  });

  it('info, schema and summarize retry too', async (t) => {
    let infoSeen = 0;
    let schemaSeen = 0;
    let sumSeen = 0;
    const site = await startFakeSite((req) => {
      const m = req.body.method_name;
      if (m === 'info' && ++infoSeen === 1) return { raw: '', status: 503 };
      if (m === 'schema_field_read' && ++schemaSeen === 1) return { destroy: true };
      if (m === 'schema_field_read') return { json: { results: { code: {} } } };
      if (m === 'summarize' && ++sumSeen === 1) return { raw: '', status: 504 };
      if (m === 'summarize') return { json: { results: { summaries: {}, groups: [] } } };
      return undefined;
    });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.schemaFieldRead('Shot'), { code: {} });
    assert.deepEqual(await sg.summarize('Shot', [], [{ field: 'id', type: 'count' }]), { summaries: {}, groups: [] });
    assert.deepEqual([infoSeen, schemaSeen, sumSeen], [2, 2, 2]);
  });

  it('gives up after 1 + maxRetries attempts with the attempt count', async (t) => {
    const site = await flaky('read', 100, { raw: '', status: 502 }, okRead);
    const sg = clientFor(site, { maxRetries: 2 });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(
      sg.find('Shot', []),
      (e) => e instanceof ShotgunTransportError && e.code === 'SG_HTTP_STATUS' && e.status === 502 && e.attempts === 3,
    );
    assert.equal(site.calls('read').length, 3);
  });

  it('maxRetries 0 means one attempt', async (t) => {
    const site = await flaky('read', 100, { raw: '', status: 503 }, okRead);
    const sg = clientFor(site, { maxRetries: 0 });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.find('Shot', []), (e) => e instanceof ShotgunTransportError && e.attempts === 1);
    assert.equal(site.calls('read').length, 1);
  });
});

describe('writes never retry', () => {
  const writes = [
    { method: 'create', run: (sg: ReturnType<typeof clientFor>) => sg.create('Shot', { code: 'x' }) },
    { method: 'update', run: (sg: ReturnType<typeof clientFor>) => sg.update('Shot', 1, { code: 'x' }) },
    { method: 'delete', run: (sg: ReturnType<typeof clientFor>) => sg.delete('Shot', 1) },
    { method: 'revive', run: (sg: ReturnType<typeof clientFor>) => sg.revive('Shot', 1) },
    {
      method: 'batch',
      run: (sg: ReturnType<typeof clientFor>) => sg.batch([{ request_type: 'delete', entity_type: 'Shot', entity_id: 1 }]),
    },
  ];
  for (const w of writes) {
    for (const bad of [{ raw: '', status: 502 }, { raw: '', status: 503 }, { destroy: true }] as Reply[]) {
      const label = 'destroy' in bad ? 'a dropped connection' : `HTTP ${'status' in bad ? bad.status : ''}`;
      it(`${w.method} is sent once after ${label}`, async (t) => {
        const site = await flaky(w.method, 100, bad, { json: { results: true } });
        const sg = clientFor(site);
        onCleanup(t, () => site.close());
        onCleanup(t, () => sg.close());
        await assert.rejects(w.run(sg), (e) => e instanceof ShotgunTransportError && e.attempts === 1);
        assert.equal(site.calls(w.method).length, 1);
      });
    }
  }
});

describe('timeouts', () => {
  it('a read that never answers is SG_TIMEOUT after every retry', async (t) => {
    const site = await startFakeSite((req) => (req.body.method_name === 'read' ? { hang: true } : undefined));
    const sg = clientFor(site, { timeoutMs: 1000, maxRetries: 1 });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(
      sg.find('Shot', []),
      (e) => e instanceof ShotgunTransportError && e.code === 'SG_TIMEOUT' && e.method === 'read' && e.attempts === 2,
    );
    assert.equal(site.calls('read').length, 2);
  });

  it('a read whose body stalls is SG_TIMEOUT, retried', async (t) => {
    const site = await flaky('read', 1, { stall: true }, okRead);
    const sg = clientFor(site, { timeoutMs: 1000 });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', []), [{ type: 'Shot', id: 1 }]);
    assert.equal(site.calls('read').length, 2);
  });

  it('a body cut short by a dropped connection is retried for reads, not for writes', async (t) => {
    const site = await startFakeSite((req) => {
      const m = req.body.method_name;
      if (m === 'read' && site.calls('read').length === 1) return { truncate: true };
      if (m === 'read') return okRead;
      if (m === 'create') return { truncate: true };
      return undefined;
    });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', []), [{ type: 'Shot', id: 1 }]);
    assert.equal(site.calls('read').length, 2);
    await assert.rejects(
      sg.create('Shot', { code: 'x' }),
      (e) => e instanceof ShotgunTransportError && e.code === 'SG_CONNECTION' && e.attempts === 1,
    );
    assert.equal(site.calls('create').length, 1);
  });

  it('a create that never answers is SG_TIMEOUT after one attempt', async (t) => {
    const site = await startFakeSite((req) => (req.body.method_name === 'create' ? { hang: true } : undefined));
    const sg = clientFor(site, { timeoutMs: 1000 });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(
      sg.create('Shot', { code: 'x' }),
      (e) => e instanceof ShotgunTransportError && e.code === 'SG_TIMEOUT' && e.attempts === 1,
    );
    assert.equal(site.calls('create').length, 1);
  });
});

describe('connections', () => {
  it('a refused connection is SG_CONNECTION, retried for info', async (t) => {
    // Take a free port, then close it so nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const sg = clientFor({ url: `http://127.0.0.1:${port}`, requests: [], calls: () => [], close: async () => {} }, { maxRetries: 2 });
    onCleanup(t, () => sg.close());
    await assert.rejects(
      sg.info(),
      (e) =>
        e instanceof ShotgunTransportError && e.code === 'SG_CONNECTION' && e.attempts === 3 && e.details['errorCode'] === 'ECONNREFUSED',
    );
  });

  it('concurrent calls share one info request; a failed info is asked again', async (t) => {
    let infos = 0;
    const site = await startFakeSite((req) => {
      if (req.body.method_name === 'info' && ++infos === 1) return { json: { exception: true, error_code: 1, message: 'x' } };
      return req.body.method_name === 'read' ? okRead : undefined;
    });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.find('Shot', []), (e) => (e as { code?: string }).code === 'SG_FAULT');
    const all = await Promise.all(Array.from({ length: 6 }, () => sg.find('Shot', [])));
    assert.equal(all.length, 6);
    assert.equal(infos, 2);
    assert.equal(site.calls('read').length, 6);
  });

  it('reuses one keep-alive connection across calls', async (t) => {
    const site = await startFakeSite((req) => (req.body.method_name === 'read' ? okRead : undefined));
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    for (let i = 0; i < 8; i++) await sg.find('Shot', []);
    assert.equal(site.requests.length, 9);
    // undici may open a second socket while the first finishes its answer;
    // without keep-alive there would be one socket per request.
    assert.ok(new Set(site.requests.map((r) => r.remotePort)).size <= 2);
    assert.equal(site.requests[0]?.headers['connection'], 'keep-alive');
  });

  it('a shared dispatcher stays open when a client closes; a closed client refuses calls', async (t) => {
    const site = await startFakeSite((req) => (req.body.method_name === 'read' ? okRead : undefined));
    const agent = new Agent();
    const a = clientFor(site, { dispatcher: agent });
    const b = clientFor(site, { dispatcher: agent });
    onCleanup(t, () => site.close());
    onCleanup(t, () => agent.close());
    onCleanup(t, () => b.close());
    await a.find('Shot', []);
    await a.close();
    await a.close();
    await assert.rejects(a.find('Shot', []), (e) => (e as { code?: string }).code === 'SG_CLIENT_CLOSED');
    assert.equal(agent.closed, false);
    assert.deepEqual(await b.find('Shot', []), [{ type: 'Shot', id: 1 }]);
  });
});
