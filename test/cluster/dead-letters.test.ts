// Dead letters and counters in cluster mode, with real nodes on a 3-server
// NATS cluster: a failing event (stopOnError false) is dead-lettered by the
// plugin's owner, the entry and the counters survive a kill -9 of that owner,
// and `sgeventd dlq retry` runs it on the new owner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { DeadLetter } from '../../src/state/index.ts';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, type ClusterBed, type ClusterView } from './cluster-bed.ts';

async function deadLetters(bed: ClusterBed, i: number, args: string[] = []): Promise<DeadLetter[]> {
  const ls = await bed.cli(i, ['dlq', 'ls', '--json', ...args]);
  assert.equal(ls.code, 0, ls.stderr);
  return JSON.parse(ls.stdout) as DeadLetter[];
}

function pluginOf(v: ClusterView | null): ClusterView['plugins'][number] | undefined {
  return v?.plugins.find((p) => p.name === 'deadletter');
}

describe('dead letters and counters on a cluster', natsSkip(), () => {
  it('a failing event is dead-lettered, survives kill -9 of its owner with the counters, and `dlq retry` runs it on the new owner', async (t) => {
    const bed = await clusterBed(t, { plugins: ['deadletter'] });
    const first = await bed.allHeld();
    const owner = bed.holderOf(first, 'deadletter');
    const after = await bed.site.newestEventId();
    const last = await bed.createEvents(40);
    const failing: number[] = [];
    for (let id = after + 1; id <= last; id++) if (id % 10 === 3) failing.push(id);
    assert.ok(failing.length > 0);

    // Every failure is stored (the owner writes it before the commit that passes its event).
    const stored = await waitFor(async () => {
      const rows = await deadLetters(bed, owner);
      return rows.length === failing.length ? rows : null;
    }, `${failing.length} dead letters in the cluster`, 120_000);
    assert.deepEqual(stored.map((d) => d.eventId), failing);
    assert.ok(stored.every((d) => d.status === 'dead' && d.callback !== '' && d.attempts === 1 && d.id === d.eventId));
    // Committed counters: every event ran once, the failing ones failed.
    const counted = await waitFor(async () => {
      const p = pluginOf(await bed.view(owner));
      return p !== undefined && p.highId === last && p.pending === 0 && p.failed === failing.length ? p : null;
    }, 'the owner counting every failure');
    assert.ok((counted.processed ?? 0) >= last - after, `processed ${String(counted.processed)} counts every event`);

    await bed.kill(owner, 'SIGKILL');
    const dead = bed.nodeIds[owner] as string;
    const second = await waitFor(async () => {
      const v = await bed.anyView();
      const holder = pluginOf(v)?.holder ?? null;
      return v !== null && holder !== null && holder !== dead ? v : null;
    }, 'another node owning the plugin', 120_000);
    const next = bed.holderOf(second, 'deadletter');
    // The counters came with the cursor (a node's own would start at 0).
    await waitFor(async () => {
      const p = pluginOf(await bed.view(next));
      return p !== undefined && p.holder === bed.nodeIds[next] && (p.processed ?? 0) >= (counted.processed ?? 0) && (p.failed ?? 0) >= failing.length;
    }, 'the new owner showing the counters of the old one');
    assert.deepEqual((await deadLetters(bed, next)).map((d) => d.eventId), failing, 'the dead letters survived the owner');

    // Healed: a retry runs each on the new owner and removes it.
    writeFileSync(`${bed.record}.heal`, '');
    const retry = await bed.cli(next, ['dlq', 'retry', '--all', '--plugin', 'deadletter']);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, new RegExp(`marked ${failing.length} dead letters`));
    await waitFor(async () => (await deadLetters(bed, next)).length === 0, 'every retried dead letter gone', 120_000);
    const endedOnNext = new Set(bed.lines().filter((l) => l.plugin === 'deadletter' && l.what === 'end' && l.node === bed.nodeIds[next]).map((l) => l.id));
    assert.deepEqual(failing.filter((id) => !endedOnNext.has(id)), [], 'every failed event went through on the new owner');
    // Nothing ran on the dead node after it died, and no other event was skipped.
    const ended = new Set(bed.lines().filter((l) => l.plugin === 'deadletter' && l.what === 'end').map((l) => l.id));
    for (let id = after + 1; id <= last; id++) assert.ok(ended.has(id), `event ${id} went through`);

    const unknown = await bed.cli(next, ['dlq', 'ls', '--plugin', 'nosuch']);
    assert.equal(unknown.errorCode, 'DLQ_UNKNOWN_PLUGIN');
  });

  it('a spread plugin (by project) dead-letters on whichever node holds the partition, and `dlq retry` runs each again there', async (t) => {
    const bed = await clusterBed(t, { plugins: ['spreadletter'] });
    await bed.allHeld();
    const after = await bed.site.newestEventId();
    const last = await bed.createEvents(40);
    const failing: number[] = [];
    for (let id = after + 1; id <= last; id++) if (id % 10 === 3) failing.push(id);
    assert.ok(failing.length > 0);
    const stored = await waitFor(async () => {
      const rows = await deadLetters(bed, 0, ['--plugin', 'spreadletter']);
      return rows.length === failing.length ? rows : null;
    }, `${failing.length} dead letters of the spread plugin`, 120_000);
    assert.deepEqual(stored.map((d) => d.eventId).sort((a, b) => a - b), failing);
    writeFileSync(`${bed.record}.heal`, '');
    const retry = await bed.cli(1, ['dlq', 'retry', '--all', '--plugin', 'spreadletter']);
    assert.equal(retry.code, 0, retry.stderr);
    await waitFor(async () => (await deadLetters(bed, 2, ['--plugin', 'spreadletter'])).length === 0, 'every retried dead letter gone', 120_000);
    const ended = new Set(bed.lines().filter((l) => l.plugin === 'spreadletter' && l.what === 'end').map((l) => l.id));
    for (let id = after + 1; id <= last; id++) assert.ok(ended.has(id), `event ${id} went through`);
  });
});
