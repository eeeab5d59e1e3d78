// `sgeventd migrate --to-cluster` with real parts: a state file as one
// machine leaves it (a cursor, unfinished ids and a gap id), moved into a
// 3-server NATS cluster, then 3 nodes deliver exactly the events the machine
// had not finished: none skipped, none twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqliteState, pluginId } from '../../src/state/index.ts';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

describe('migrate --to-cluster', natsSkip(), () => {
  it('moves the cursor, unfinished and gap ids; the nodes run exactly the rest; re-running is safe; a running cluster is refused', async (t) => {
    const bed = await clusterBed(t, { plugins: ['serial'], initialNodes: 0 });
    const after = await bed.site.newestEventId();
    const written = await bed.createEvents(30);
    const high = after + 60;
    const unfinished = [after + 50, after + 55];
    const gap = after + 58;
    // The state one machine left: finished up to `high` except two events in flight and one id not read yet.
    const state = await openSqliteState(join(bed.dir, 'n1.db'));
    const id = pluginId({ folder: bed.plugins, name: 'serial' });
    await state.commit({
      plugins: [{ id, folder: bed.plugins, name: 'serial', lastEventId: high, active: true, lastError: null }],
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
      const p = v?.plugins.find((x) => x.name === 'serial');
      return p !== undefined && p.highId === last && p.pending === 0;
    }, `serial finished event ${last}`, 180_000);

    const starts = bed.lines().filter((l) => l.plugin === 'serial' && l.what === 'start').map((l) => l.id);
    const expected = [...unfinished, gap];
    for (let e = high + 1; e <= last; e++) expected.push(e);
    assert.ok(written > high);
    assert.deepEqual([...new Set(starts)].sort((a, b) => a - b), expected, 'exactly the events the machine had not finished');
    assert.equal(starts.length, expected.length, 'none twice');

    const late = await bed.cli(0, ['migrate', '--to-cluster']);
    assert.equal(late.errorCode, 'MIGRATE_POLLER_AHEAD');
  });
});
