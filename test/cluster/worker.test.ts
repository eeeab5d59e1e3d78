// The plugin worker against a real nats-server and real plugin threads: the
// stream is filled by the test, the lease is handed over by hand.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { parseConfig, type DaemonConfig } from '../../src/config/index.ts';
import { HostFactory } from '../../src/hosts/index.ts';
import { PluginWorker, type HeldLease, type LeaseCampaign } from '../../src/cluster/worker.ts';
import type { WorkerCursorState } from '../../src/cluster/cursor.ts';
import { onCleanup, tempDir, waitFor } from '../support/index.ts';
import { startNats } from '../support/nats.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cluster/', import.meta.url));
const STREAM = 'SGE_t_site_EVENTS';
const SUBJECT = 'sge.t.site.events';

/**
 * A lease held by whoever `grant` names, state kept in memory: the worker's
 * own fencing is tested in fence.ts; here only what the worker does with it.
 */
class HandLease implements LeaseCampaign<WorkerCursorState | null> {
  stored: WorkerCursorState | null = null;
  writes = 0;
  #grants: Array<(held: HeldLease<WorkerCursorState | null>) => void> = [];
  #current: AbortController | null = null;

  acquire(signal: AbortSignal): Promise<HeldLease<WorkerCursorState | null>> {
    return new Promise((resolve, reject) => {
      this.#grants.push(resolve);
      signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
    });
  }

  get waiting(): number {
    return this.#grants.length;
  }

  /** Grants the lease to the oldest campaign. */
  grant(): void {
    const give = this.#grants.shift();
    assert.ok(give, 'a worker is campaigning');
    const lost = new AbortController();
    this.#current = lost;
    give({
      state: this.stored,
      signal: lost.signal,
      write: (state) => {
        if (lost.signal.aborted) return Promise.reject(new Error('lease lost'));
        this.stored = structuredClone(state);
        this.writes++;
        return Promise.resolve();
      },
      release: (state) => {
        if (state !== undefined) this.stored = structuredClone(state);
        lost.abort();
        return Promise.resolve();
      },
    });
  }

  /** The holder loses the lease (as on a fenced write failing). */
  depose(): void {
    this.#current?.abort();
  }
}

interface Bed {
  nc: NatsConnection;
  js: JetStreamClient;
  config: DaemonConfig;
  record: string;
  plugins: string;
  worker(name: string, lease: HandLease, node: string): PluginWorker;
  publish(from: number, to: number, project: (id: number) => number): Promise<void>;
  lines(): string[][];
}

async function bed(t: TestContext): Promise<Bed> {
  const nats = await startNats(t);
  const dir = tempDir(t, 'sgeventd-worker-');
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins, { mode: 0o755 });
  chmodSync(plugins, 0o755);
  const record = join(dir, 'record.txt');
  process.env['SGEVENTD_TEST_RECORD'] = record;
  const config = parseConfig({
    site: { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'k' } },
    daemon: { state: join(dir, 'state.db'), stateFlushMs: 20 },
    plugins: [{ path: plugins }],
    logging: { dir: join(dir, 'logs'), level: 'warn' },
    http: { enabled: false },
  }, { source: join(dir, 'sgeventd.yaml') });
  const nc = await connect({ servers: nats.urls, maxReconnectAttempts: -1 });
  onCleanup(t, () => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`], duplicate_window: 120e9 });
  const js = jetstream(nc);
  const logger = pino({ level: process.env['SGEVENTD_TEST_LOG'] ?? 'silent' });
  const hosts = new HostFactory(config);
  return {
    nc, js, config, record, plugins,
    worker(name, lease, node) {
      const file = join(plugins, `${name}.mjs`);
      if (!existsSync(file)) {
        copyFileSync(join(FIXTURES, `${name}.mjs`), file);
        chmodSync(file, 0o644);
      }
      process.env['SGEVENTD_TEST_NODE'] = node;
      const folder = config.plugins[0];
      assert.ok(folder);
      const w = new PluginWorker({
        id: `${name}@test`, entry: { kind: 'js', name, file, mtimeMs: 0, size: 0, mode: 0o644 }, folder, config, hosts,
        directory: { tankName: () => Promise.resolve(null) },
        lease, js, jsm, stream: STREAM, filter: `${SUBJECT}.>`, logger: logger.child({ node }), retryMs: 50,
        onReconnect: () => () => undefined,
      });
      onCleanup(t, () => w.stop());
      return w;
    },
    async publish(from, to, project) {
      const h = headers();
      h.set('Sgeventd-Format', '1');
      const acks = [];
      for (let id = from; id <= to; id++) {
        const row = {
          type: 'EventLogEntry', id, event_type: 'Shotgun_Shot_Change', attribute_name: 'code', meta: null,
          entity: { type: 'Shot', id }, user: null, project: { type: 'Project', id: project(id) }, session_uuid: null,
          created_at: new Date().toISOString(),
        };
        acks.push(js.publish(`${SUBJECT}.${project(id) % 4}`, JSON.stringify(row), { msgID: `site:${id}`, headers: h }));
      }
      await Promise.all(acks);
    },
    lines() {
      if (!existsSync(record)) return [];
      return readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    },
  };
}

/** Event ids whose callback ended, per plugin, in the order they ended. */
function ended(lines: string[][], plugin: string): number[] {
  return lines.filter((l) => l[0] === plugin && l[5] === 'end').map((l) => Number(l[3]));
}

describe('plugin worker', () => {
  it('runs a serial plugin over the stream in order, from the stream end at first claim, committing its cursor', async (t) => {
    const b = await bed(t);
    await b.publish(1, 5, () => 1);
    const lease = new HandLease();
    const w = b.worker('serial', lease, 'a');
    w.start();
    await waitFor(() => lease.waiting === 1, 'the worker campaigns');
    lease.grant();
    await waitFor(() => w.role === 'active', 'the worker runs');
    await b.publish(6, 105, (id) => id % 3);
    await waitFor(() => lease.stored?.highId === 105 && lease.stored.pending.length === 0, 'the cursor committed past the last event');
    assert.deepEqual(ended(b.lines(), 'serial'), Array.from({ length: 100 }, (_, i) => i + 6));
    await w.stop();
  });

  it('a new owner re-runs the deposed owner\'s unfinished events first and in order, skipping none', async (t) => {
    const b = await bed(t);
    process.env['SGEVENTD_TEST_WORK_MS'] = '5';
    t.after(() => delete process.env['SGEVENTD_TEST_WORK_MS']);
    const lease = new HandLease();
    const first = b.worker('keyed', lease, 'a');
    first.start();
    await waitFor(() => lease.waiting === 1, 'the first worker campaigns');
    lease.grant();
    await waitFor(() => first.role === 'active', 'the first worker runs');
    await b.publish(1, 400, (id) => 1 + (id % 5));
    await waitFor(() => ended(b.lines(), 'keyed').length >= 100, 'a part of the events ran');
    lease.depose();
    await waitFor(() => first.role === 'standby', 'the deposed worker campaigns again');
    const committed = lease.stored;
    assert.ok(committed);
    const second = b.worker('keyed', lease, 'b');
    second.start();
    await waitFor(() => lease.waiting === 2, 'both campaign');
    lease.grant(); // the oldest campaign: the first worker again, from the committed cursor
    await waitFor(() => lease.stored?.highId === 400 && lease.stored.pending.length === 0, 'every event finished');
    const lines = b.lines().filter((l) => l[0] === 'keyed');
    const done = new Set(ended(lines, 'keyed'));
    for (let id = 1; id <= 400; id++) assert.ok(done.has(id), `event ${id} ran`);
    // Per project, the ends are in id order within each term of the lease.
    const perKey = new Map<string, number[]>();
    for (const l of lines) if (l[5] === 'start') perKey.set(l[4] as string, [...(perKey.get(l[4] as string) ?? []), Number(l[3])]);
    for (const [key, ids] of perKey) {
      // A redelivery may go back once (after the handover); otherwise ids rise.
      let backs = 0;
      for (let i = 1; i < ids.length; i++) if ((ids[i] as number) <= (ids[i - 1] as number)) backs++;
      assert.ok(backs <= 1, `project ${key} kept its order (${backs} steps back)`);
    }
    await Promise.all([first.stop(), second.stop()]);
  });

  it('a stopOnError failure deactivates the plugin in its stored cursor, and the next owner does not run it', async (t) => {
    const b = await bed(t);
    const lease = new HandLease();
    copyFileSync(join(FIXTURES, 'failing.mjs'), join(b.plugins, 'failing.mjs'));
    chmodSync(join(b.plugins, 'failing.mjs'), 0o644);
    const w = b.worker('failing', lease, 'a');
    w.start();
    await waitFor(() => lease.waiting === 1, 'the worker campaigns');
    lease.grant();
    await waitFor(() => w.role === 'active', 'the worker runs');
    await b.publish(1, 10, () => 1);
    await waitFor(() => w.role === 'deactivated', 'the plugin is deactivated');
    await w.stop();
    assert.equal(lease.stored?.active, false);
    // The failed event and every one handed out after it stay pending, for when the plugin is enabled again.
    assert.deepEqual(lease.stored?.pending.map((p) => p.id), [3, 4, 5, 6, 7, 8, 9, 10]);
    const next = b.worker('failing', lease, 'b');
    next.start();
    await waitFor(() => lease.waiting === 1, 'the next worker campaigns');
    lease.grant();
    await waitFor(() => next.role === 'deactivated', 'the next owner sees the cluster-wide deactivation');
    await next.stop();
    assert.deepEqual(b.lines().filter((l) => l[0] === 'failing').map((l) => Number(l[3])), [1, 2, 3]);
  });
});
