/**
 * The daemon catching up on a backlog from the local site, over real HTTP:
 *
 * - catch-up events/s with 1 and with 10 no-op plugins (the daemon is its own
 *   process, `sgeventd foreground`; the site runs in this process). Timed from the
 *   first event reaching a plugin to the last event reaching every plugin, so
 *   start-up (threads, imports) is not counted.
 * - the state-store cost per event: StateBatcher calls as the lanes make them,
 *   with the SQLite commits they trigger, per event and plugin.
 * - for the "ten times shotgunEvents" goal: shotgunEvents itself on the same
 *   backlog with the same no-op plugin, when its sources and shotgun_api3 are
 *   given (SGEVENTD_BENCH_SHOTGUNEVENTS = folder holding shotgunEventDaemon.py,
 *   daemonizer.py and importlib_wrapper.py; SGEVENTD_BENCH_PYTHONPATH = folder holding shotgun_api3), and
 *   always the cost of its state saving (a pickle of the whole state after every
 *   event) measured in Python.
 *
 * SGEVENTD_BENCH_DAEMON_EVENTS sets the backlog size (default 20,000).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { openSqliteState, type StateBatch } from '../src/state/index.ts';
import { StateBatcher } from '../src/dispatch/state-batcher.ts';
import { makeHarness, bulkEvents, type Harness } from '../test/dispatch/harness.ts';
import { writeYaml, spawnDaemon, childEnv } from '../test/dispatch/child.ts';

const EVENTS = Number(process.env['SGEVENTD_BENCH_DAEMON_EVENTS'] ?? 20_000);

const NOOP_JS = `import { writeFileSync } from 'node:fs';
const first = Number(process.env.BENCH_FIRST), last = Number(process.env.BENCH_LAST), marks = process.env.BENCH_MARKS;
const name = new URL(import.meta.url).pathname.split('/').pop();
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    const id = ctx.event.id;
    if (id === first) writeFileSync(marks + '/first-' + name, String(Date.now()));
    if (id === last) writeFileSync(marks + '/last-' + name, String(Date.now()));
  });
}
`;

const NOOP_PY = `import os, time
FIRST, LAST, MARKS = int(os.environ["BENCH_FIRST"]), int(os.environ["BENCH_LAST"]), os.environ["BENCH_MARKS"]

def registerCallbacks(reg):
    reg.registerCallback("sgeventd", "sgeventd-key", noop, None, None)

def noop(sg, logger, event, args):
    if event["id"] == FIRST:
        open(os.path.join(MARKS, "first-noop"), "w").write(str(int(time.time() * 1000)))
    if event["id"] == LAST:
        open(os.path.join(MARKS, "last-noop"), "w").write(str(int(time.time() * 1000)))
`;

async function waitMarks(marks: string, names: string[], alive: () => boolean, timeoutMs: number): Promise<{ first: number; last: number } | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    if (names.every((n) => existsSync(join(marks, `last-${n}`)))) {
      const read = (f: string) => Number(readFileSync(join(marks, f), 'utf8'));
      return { first: Math.min(...names.map((n) => read(`first-${n}`))), last: Math.max(...names.map((n) => read(`last-${n}`))) };
    }
    await sleep(100);
  }
  return null;
}

async function withBacklog<T>(fn: (h: Harness, ids: number[], marks: string) => Promise<T>): Promise<T> {
  const h = await makeHarness();
  try {
    // One event first: shotgunEvents treats a stored cursor of 0 as "no cursor" and would never fetch.
    bulkEvents(h.site, 1);
    const ids = bulkEvents(h.site, EVENTS);
    const marks = join(h.dir, 'marks');
    await mkdir(marks);
    return await fn(h, ids, marks);
  } finally {
    await h.close();
  }
}

async function sgeventdCatchUp(plugins: number): Promise<number> {
  return withBacklog(async (h, ids, marks) => {
    const names: string[] = [];
    for (let i = 0; i < plugins; i++) {
      const name = `noop${i}.mjs`;
      await writeFile(join(h.plugins, name), NOOP_JS);
      await chmod(join(h.plugins, name), 0o644);
      names.push(name);
    }
    const yaml = await writeYaml(h);
    const env = { ...childEnv(h), BENCH_FIRST: String(ids[0]), BENCH_LAST: String(ids.at(-1)), BENCH_MARKS: marks };
    const d = spawnDaemon(h, yaml, ['--from', String(ids[0]! - 1)], env);
    try {
      const t = await waitMarks(marks, names, () => d.child.exitCode === null, 600_000);
      if (t === null) throw new Error(`sgeventd did not catch up: ${d.output()}`);
      return (ids.length - 1) / ((t.last - t.first) / 1000);
    } finally {
      await d.stop();
    }
  });
}

async function stateCostPerEvent(plugins: number): Promise<{ totalUs: number; commitUs: number; commits: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-bench-state-'));
  try {
    const store = await openSqliteState(join(dir, 'state.db'));
    let commitMs = 0;
    let commits = 0;
    const commit = store.commit.bind(store);
    store.commit = async (batch: StateBatch) => {
      const t0 = performance.now();
      await commit(batch);
      commitMs += performance.now() - t0;
      commits++;
    };
    const batcher = new StateBatcher(store, { flushMs: 200, flushEvents: 500, logger: pino({ level: 'silent' }) });
    const t0 = performance.now();
    for (let e = 1; e <= EVENTS; e++) {
      for (let p = 0; p < plugins; p++) {
        const id = `/plugins\u0000noop${p}`;
        batcher.counter({ pluginId: id, callback: 'callback0', processed: 1, failed: 0, totalMs: 0.01, lastEventId: e });
        batcher.plugin({ id, folder: '/plugins', name: `noop${p}`, lastEventId: e, active: true, lastError: null });
        batcher.eventDone();
      }
      if (e % 100 === 0) await new Promise<void>((r) => setImmediate(r)); // let flushes run, as lanes do between events
    }
    await batcher.close();
    const total = performance.now() - t0;
    await store.close();
    const n = EVENTS * plugins;
    return { totalUs: (total * 1000) / n, commitUs: (commitMs * 1000) / n, commits };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** shotgunEvents' _saveEventIdData after every event: a pickle of the whole state, rewritten. */
function picklePerEventUs(plugins: number): number {
  const script = `
import pickle, time, os, sys, tempfile
n, plugins = int(sys.argv[1]), int(sys.argv[2])
d = tempfile.mkdtemp()
path = os.path.join(d, "shotgunEventDaemon.id")
state = {"/plugins": dict(("noop%d" % i, (0, {})) for i in range(plugins))}
t0 = time.perf_counter()
for e in range(n):
    state["/plugins"] = dict(("noop%d" % i, (e, {})) for i in range(plugins))
    with open(path, "wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
print((time.perf_counter() - t0) * 1e6 / n)
`;
  return Number(execFileSync('python3', ['-c', script, String(Math.min(EVENTS, 20_000)), String(plugins)], { encoding: 'utf8' }).trim());
}

async function shotgunEventsCatchUp(sources: string, pythonPath: string): Promise<{ rate: number; done: boolean; note: string }> {
  return withBacklog(async (h, ids, marks) => {
    const run = join(h.dir, 'sge');
    await mkdir(run);
    for (const f of ['shotgunEventDaemon.py', 'daemonizer.py', 'importlib_wrapper.py']) {
      if (existsSync(join(sources, f))) await copyFile(join(sources, f), join(run, f));
    }
    await writeFile(join(h.plugins, 'noop.py'), NOOP_PY);
    await chmod(join(h.plugins, 'noop.py'), 0o644);
    await writeFile(join(run, 'shotgunEventDaemon.conf'), `[daemon]
pidFile: ${run}/sge.pid
eventIdFile: ${run}/sge.id
logMode: 0
logPath: ${run}
logFile: sge.log
logging: 30
timing_log: off
conn_retry_sleep = 1
max_conn_retries = 5
fetch_interval = 1
max_event_batch_size = 500

[shotgun]
server: ${h.site.url}
name: sgeventd
key: sgeventd-key
proxy_server:
use_session_uuid: False

[plugins]
paths: ${h.plugins}

[emails]
enabled: False
`);
    execFileSync('python3', ['-c', `import pickle, sys
pickle.dump({sys.argv[1]: {"noop": (int(sys.argv[2]), {})}}, open(sys.argv[3], "wb"), protocol=pickle.HIGHEST_PROTOCOL)`, h.plugins, String(ids[0]! - 1), join(run, 'sge.id')]);
    const child = spawn('python3', [join(run, 'shotgunEventDaemon.py'), 'foreground'], {
      cwd: run, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'], HOME: run, PYTHONPATH: pythonPath, BENCH_FIRST: String(ids[0]), BENCH_LAST: String(ids.at(-1)), BENCH_MARKS: marks },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const started = Date.now();
    try {
      const t = await waitMarks(marks, ['noop'], () => child.exitCode === null, 900_000);
      if (t !== null) return { rate: (ids.length - 1) / ((t.last - t.first) / 1000), done: true, note: 'ran to the end of the backlog' };
      throw new Error(`shotgunEvents did not reach the last event in ${Math.round((Date.now() - started) / 1000)} s: ${out.slice(-2000)}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

export async function run(): Promise<{ name: string; results: Record<string, number | string>; notes?: string[] }> {
  const results: Record<string, number | string> = { events: EVENTS };
  const notes: string[] = [];
  const one = await sgeventdCatchUp(1);
  results['catch-up events/s, 1 no-op plugin'] = Math.round(one);
  const ten = await sgeventdCatchUp(10);
  results['catch-up events/s, 10 no-op plugins (each plugin)'] = Math.round(ten);
  results['callbacks/s, 10 no-op plugins'] = Math.round(ten * 10);
  for (const p of [1, 10]) {
    const s = await stateCostPerEvent(p);
    results[`state cost µs per event and plugin, ${p} plugin(s) (batcher + commits)`] = Math.round(s.totalUs * 100) / 100;
    results[`state commit µs per event and plugin, ${p} plugin(s)`] = Math.round(s.commitUs * 100) / 100;
  }
  results['shotgunEvents state save µs per event (pickle of the whole state, 1 plugin)'] = Math.round(picklePerEventUs(1) * 10) / 10;
  results['shotgunEvents state save µs per event (pickle of the whole state, 10 plugins)'] = Math.round(picklePerEventUs(10) * 10) / 10;
  const sources = process.env['SGEVENTD_BENCH_SHOTGUNEVENTS'];
  const pythonPath = process.env['SGEVENTD_BENCH_PYTHONPATH'];
  if (sources && pythonPath && existsSync(join(sources, 'shotgunEventDaemon.py'))) {
    try {
      const sge = await shotgunEventsCatchUp(sources, pythonPath);
      results['shotgunEvents catch-up events/s, 1 no-op plugin'] = Math.round(sge.rate);
      results['sgeventd / shotgunEvents, 1 no-op plugin'] = Math.round((one / sge.rate) * 10) / 10;
      notes.push(`shotgunEvents (${sources}, shotgun_api3 from ${pythonPath}) ${sge.note}, same site, backlog and no-op plugin.`);
    } catch (err) {
      results['shotgunEvents catch-up events/s, 1 no-op plugin'] = 'failed';
      notes.push(`shotgunEvents could not be run here: ${String(err).slice(0, 500)}`);
    }
  } else {
    notes.push('shotgunEvents itself not run (set SGEVENTD_BENCH_SHOTGUNEVENTS and SGEVENTD_BENCH_PYTHONPATH); only its state-saving pattern is measured.');
  }
  notes.push('The daemon runs as its own process and the site in the bench process, both on this machine; catch-up is timed from the first event reaching a plugin to the last event reaching every plugin.');
  notes.push('State cost: StateBatcher calls as the lanes make them (plugin row, counter, eventDone) with the SQLite commits they trigger (flushEvents 500, flushMs 200).');
  return { name: 'daemon', results, notes };
}
