// A Python plugin's process starts as soon as the config is known, before the
// daemon's modules load and the state opens, and its host adopts it; one that
// is not needed is ended. Real `sgeventd foreground` processes; `toolkit.python`
// is a wrapper that records each plugin process it starts, so what ran is read
// from the record, never from time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lockStateFile } from '../../src/state/index.ts';
import { daemonBed, onCleanup, startForeground, waitFor, withSite, type Cleanup, type DaemonBed, type ForegroundChild } from '../support/index.ts';

/** A daemon child's start on a machine whose cores are shared. */
const DAEMON_WAIT_MS = 120_000;

const WRAPPER = `#!/bin/sh
case "$*" in
  *plugin_runner.py*) echo "runner $$" >> "$EARLY_SPAWN_LOG" ;;
esac
exec python3 "$@"
`;

interface Bed { h: DaemonBed; spawns: string; yaml: string; env: NodeJS.ProcessEnv }

async function bed(t: Cleanup): Promise<Bed> {
  const h = daemonBed(t, await withSite(t));
  const wrapper = join(h.dir, 'python-wrapper.sh');
  writeFileSync(wrapper, WRAPPER);
  chmodSync(wrapper, 0o755);
  const spawns = join(h.dir, 'spawns.txt');
  h.addPlugin('py_batch.py');
  const yaml = h.writeYaml({}, {}, { toolkit: { python: wrapper } });
  return { h, spawns, yaml, env: { ...h.childEnv(), EARLY_SPAWN_LOG: spawns, PY_BATCH_LOG: join(h.dir, 'py.log') } };
}

function spawnLines(file: string): string[][] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : [];
}

/** Alive and not a zombie (a zombie's parent may be a reaper that has not run yet). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function foreground(t: Cleanup, b: Bed, from: number): ForegroundChild {
  return startForeground(t, { yaml: b.yaml, from, env: b.env });
}

describe('start-up: Python plugins\' processes start early', { skip: process.platform === 'win32' ? 'POSIX shell wrapper' : false }, () => {
  it('starts the plugin\'s process once, early, and its host runs events in that very process', async (t) => {
    const b = await bed(t);
    const from = await b.h.site.newestEventId();
    const d = foreground(t, b, from);
    const e1 = await b.h.site.newShotEvent('early-python');
    const ran = await waitFor(() => (existsSync(b.env['PY_BATCH_LOG'] as string)
      ? readFileSync(b.env['PY_BATCH_LOG'] as string, 'utf8').split('\n').find((l) => l.startsWith('record ') && Number(l.split(' ')[1]) >= e1)
      : undefined), `the Python plugin's first event (${d.stderr()})`, DAEMON_WAIT_MS);
    const lines = spawnLines(b.spawns);
    // No Python but the plugin's one process: the state lock needs none.
    assert.deepEqual(lines.map(([what]) => what), ['runner'], lines.join('; '));
    // One process for the plugin, adopted: the events run in it.
    const runner = Number(lines.find(([w]) => w === 'runner')?.[1]);
    assert.equal(Number(ran.split(' ')[2]), runner, 'the event ran in the process started early');
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.stderr());
    assert.ok(!alive(runner), 'the plugin process ended with the daemon');
  });

  it('ends a process started early that the daemon does not use (the state file is held by another process)', async (t) => {
    const b = await bed(t);
    const held = await lockStateFile(join(b.h.dir, 'state.db'));
    onCleanup(t, () => held.release());
    const d = foreground(t, b, 0);
    const code = await d.exited;
    assert.notEqual(code, 0);
    assert.match(d.stderr(), /STATE_LOCKED|is in use by/);
    const lines = spawnLines(b.spawns);
    const runner = Number(lines.find(([w]) => w === 'runner')?.[1]);
    assert.ok(Number.isInteger(runner), `the plugin's process was started before the lock was refused: ${lines.join('; ')}`);
    assert.ok(!alive(runner), `the plugin process ${runner} outlived the daemon`);
  });
});
