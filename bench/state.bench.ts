/**
 * State-store cost per event: 100,000 events for 10 plugins, the dispatcher
 * flushing one batch (every plugin's cursor and counters, a backlog change)
 * every 500 events, with synchronous=FULL (the default) and NORMAL; the same
 * without batching (one commit per event, 5,000 events); and, for
 * comparison, shotgunEvents' way: pickle the whole state to the event-id file
 * after every event (python3, 5,000 events, timed inside Python).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteState, pluginId } from '../src/state/index.ts';
import type { StateBatch } from '../src/state/index.ts';
import type { BenchResult } from './run.ts';

const PLUGINS = 10;
const ids = Array.from({ length: PLUGINS }, (_, i) => pluginId({ folder: '/bench/plugins', name: `plugin${i}` }));

async function measure(dir: string, label: string, events: number, flushEvery: number, synchronous: 'full' | 'normal'): Promise<{ usPerEvent: number; commitsPerSec: number }> {
  const state = await openSqliteState(join(dir, `${label}.db`), { synchronous });
  try {
    const start = performance.now();
    let commits = 0;
    for (let done = flushEvery; done <= events; done += flushEvery) {
      const batch: StateBatch = {
        plugins: ids.map((id, i) => ({ id, folder: '/bench/plugins', name: `plugin${i}`, lastEventId: done, active: true, lastError: null })),
        counters: ids.map((id) => ({ pluginId: id, callback: 'cb', processed: flushEvery, failed: 0, totalMs: flushEvery * 0.1, lastEventId: done })),
        backlogAdd: [{ pluginId: ids[0]!, eventId: done + 1_000_000, expiresAt: Date.now() + 300_000 }],
        backlogRemove: done > flushEvery ? [{ pluginId: ids[0]!, eventId: done - flushEvery + 1_000_000 }] : [],
      };
      await state.commit(batch);
      commits++;
    }
    const ms = performance.now() - start;
    return { usPerEvent: (ms * 1000) / events, commitsPerSec: commits / (ms / 1000) };
  } finally {
    await state.close();
  }
}

const PICKLE_LOOP = `
import datetime, pickle, sys, time
path, events, plugins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = {"/bench/plugins": {"plugin%d" % i: (0, {}) for i in range(plugins)}}
start = time.perf_counter()
for e in range(1, events + 1):
    for name in data["/bench/plugins"]:
        data["/bench/plugins"][name] = (e, {})
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
print((time.perf_counter() - start) * 1e6 / events)
`;

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sgeventd-bench-state-'));
  const notes: string[] = [];
  const results: Record<string, number | string> = {};
  try {
    const full = await measure(dir, 'full', 100_000, 500, 'full');
    results['batched 500, FULL: µs/event'] = full.usPerEvent;
    results['batched 500, FULL: commits/s'] = full.commitsPerSec;
    const normal = await measure(dir, 'normal', 100_000, 500, 'normal');
    results['batched 500, NORMAL: µs/event'] = normal.usPerEvent;
    const unbatched = await measure(dir, 'unbatched', 5_000, 1, 'full');
    results['one commit per event, FULL: µs/event'] = unbatched.usPerEvent;
    results['one commit per event, FULL: commits/s'] = unbatched.commitsPerSec;
    try {
      const out = execFileSync(process.env.SGEVENTD_PYTHON ?? 'python3', ['-c', PICKLE_LOOP, join(dir, 'shotgunEvents.id'), '5000', String(PLUGINS)], { encoding: 'utf8' });
      const pickleUs = Number(out.trim());
      results['shotgunEvents pickle per event: µs/event'] = pickleUs;
      results['shotgunEvents pickle / sgeventd batched FULL'] = pickleUs / full.usPerEvent;
      notes.push('the pickle is written with a plain open("wb") as shotgunEvents does: not fsynced, not atomic; the SQLite numbers include fsync (FULL)');
    } catch (err) {
      notes.push(`python3 not available, shotgunEvents comparison skipped: ${(err as Error).message}`);
    }
    notes.push(`${PLUGINS} plugins; a batch carries every plugin's cursor and counters and one backlog add/remove`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'state', results, notes };
}
