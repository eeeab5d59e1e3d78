// `sgeventd migrate --to-cluster` with real parts: a state file as one
// machine leaves it (a cursor, unfinished ids and a gap id), moved into a
// 3-server NATS cluster, then 3 nodes deliver exactly the events the machine
// had not finished: none skipped, none twice.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectCluster, FencedLease, workerCursorSchema } from '../../src/cluster/index.ts';
import { openSqliteState, pluginId } from '../../src/state/index.ts';
import { onCleanup, waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

/** A state file one machine left, migrated; then 3 nodes run exactly the rest. */
async function migrateAndRun(t: TestContext, plugin: 'serial' | 'keyed'): Promise<void> {
  const bed = await clusterBed(t, { plugins: [plugin], initialNodes: 0 });
  const after = await bed.site.newestEventId();
  const written = await bed.createEvents(30);
  const high = after + 60;
  const unfinished = [after + 50, after + 55];
  const gap = after + 58;
  // The state one machine left: finished up to `high` except two events in flight and one id not read yet.
  const state = await openSqliteState(join(bed.dir, 'n1.db'));
  const id = pluginId({ folder: bed.plugins, name: plugin });
  await state.commit({
    plugins: [{ id, folder: bed.plugins, name: plugin, lastEventId: high, active: true, lastError: null }],
    backlogAdd: [
      ...unfinished.map((eventId) => ({ pluginId: id, eventId, expiresAt: 0, kind: 'pending' as const })),
      { pluginId: id, eventId: gap, expiresAt: Date.now() + 3_600_000 },
    ],
  });
  await state.close();

  const first = await bed.cli(0, ['migrate', '--to-cluster']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^migrated /m);
  // Killed or not, running it again changes nothing.
  const again = await bed.cli(0, ['migrate', '--to-cluster']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^already migrated /m);

  for (let i = 0; i < 3; i++) bed.start(i);
  const last = await bed.createEvents(10);
  await waitFor(async () => {
    const v = await bed.anyView();
    const p = v?.plugins.find((x) => x.name === plugin);
    return p !== undefined && p.highId === last && p.pending === 0;
  }, `${plugin} finished event ${last}`, 180_000);

  const starts = bed.lines().filter((l) => l.plugin === plugin && l.what === 'start').map((l) => l.id);
  const expected = [...unfinished, gap];
  for (let e = high + 1; e <= last; e++) expected.push(e);
  assert.ok(written > high);
  assert.deepEqual([...new Set(starts)].sort((a, b) => a - b), expected, 'exactly the events the machine had not finished');
  assert.equal(starts.length, expected.length, 'none twice');

  const late = await bed.cli(0, ['migrate', '--to-cluster']);
  assert.equal(late.errorCode, 'MIGRATE_POLLER_AHEAD');
}

describe('migrate --to-cluster', natsSkip(), () => {
  // `serial` runs on one node (by: none); `keyed` (by: project) is spread over partitions, each of which takes the
  // migrated position and id list.
  for (const plugin of ['serial', 'keyed'] as const) {
    it(`moves the cursor, unfinished and gap ids; the nodes run exactly the rest (${plugin}); re-running is safe; a running cluster is refused`, async (t) => {
      await migrateAndRun(t, plugin);
    });
  }

  it('refuses to replace a cursor the cluster has (MIGRATE_WOULD_OVERWRITE) unless --force, and a plugin lease a running node holds (MIGRATE_LEASE_HELD)', async (t) => {
    const bed = await clusterBed(t, { plugins: ['serial'], initialNodes: 0 });
    const after = await bed.site.newestEventId();
    await bed.createEvents(5);
    const serial = pluginId({ folder: bed.plugins, name: 'serial' });
    const leave = async (lastEventId: number): Promise<void> => {
      const state = await openSqliteState(join(bed.dir, 'n1.db'));
      await state.commit({ plugins: [{ id: serial, folder: bed.plugins, name: 'serial', lastEventId, active: true, lastError: null }] });
      await state.close();
    };
    await leave(after + 5);
    const first = await bed.cli(0, ['migrate', '--to-cluster']);
    assert.equal(first.code, 0, first.stderr);

    // The machine went on after the first run: its cursor no longer matches the cluster's.
    await leave(after + 8);
    const refused = await bed.cli(0, ['migrate', '--to-cluster']);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.equal(refused.errorCode, 'MIGRATE_WOULD_OVERWRITE', refused.stderr);
    const forced = await bed.cli(0, ['migrate', '--to-cluster', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^migrated /m);

    // A plugin the cluster has no cursor for yet, whose lease a node holds (renewing it): migrate waits out the ttl, then refuses.
    copyFileSync(fileURLToPath(new URL('../fixtures/cluster/keyed.mjs', import.meta.url)), join(bed.plugins, 'keyed.mjs'));
    chmodSync(join(bed.plugins, 'keyed.mjs'), 0o644);
    const keyed = pluginId({ folder: bed.plugins, name: 'keyed' });
    const conn = await connectCluster({ nats: { servers: bed.nats.urls }, nodeId: 'holder' });
    onCleanup(t, () => conn.close());
    const lease = await FencedLease.open({
      conn, names: bed.names, key: `plugin.${keyed}`, nodeId: 'holder', timing: { ttlMs: 5000, renewMs: 1000, checkMs: 1000, marginMs: 1500 },
      replicas: 3, state: workerCursorSchema.nullable(), initial: null,
    });
    onCleanup(t, () => lease.close());
    await lease.acquire(AbortSignal.timeout(30_000));
    const held = await bed.cli(0, ['migrate', '--to-cluster']);
    assert.notEqual(held.code, 0, held.stdout);
    assert.equal(held.errorCode, 'MIGRATE_LEASE_HELD', held.stderr);
  });
});
