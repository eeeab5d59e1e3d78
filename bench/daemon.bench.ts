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
 * Each catch-up runs SGEVENTD_BENCH_RUNS times (default 3) on the same backlog,
 * from a fresh state each time, and the median counts: the machine is shared
 * and single runs move. SGEVENTD_BENCH_DAEMON_EVENTS sets the backlog size
 * (default 50,000: long enough that start-up and compilation are a small part).
 * Both daemons poll the head of the log once a second (the defaults).
 * SGEVENTD_BENCH_DAEMON_ONLY picks scenarios (comma-separated: one, python,
 * toolkit, ten, state; default all), for before/after comparisons in turns;
 * SGEVENTD_BENCH_DAEMON_NODE_OPTIONS is given to the daemon process as
 * NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * SGEVENTD_BENCH_BASE names a checkout of an earlier commit (its node_modules
 * in place): its daemon runs the one-plugin catch-up too, in turns with this
 * one and shotgunEvents, so a change is compared on the same machine state.
 * Besides events/s, each sgeventd catch-up reports CPU per 1,000 events over
 * the same window: the daemon's (its process and plugin processes, /proc) and
 * this process's (process.cpuUsage: the site serving the reads, plus the
 * bench's polling for the marks).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { parseConfig } from '../src/config/index.ts';
import { openSqliteState, type StateBatch } from '../src/state/index.ts';
import { StateBatcher } from '../src/dispatch/state-batcher.ts';
import { makeHarness, bulkEvents, type Harness } from '../test/dispatch/harness.ts';
import { writeYaml, spawnDaemon, childEnv } from '../test/dispatch/child.ts';
import { writeConfig } from '../test/fixtures/toolkit/fake-cores.ts';
import { median, shotgunEventsSources, startShotgunEvents, type ShotgunEventsSources } from './shotgun-events.ts';

const EVENTS = Number(process.env['SGEVENTD_BENCH_DAEMON_EVENTS'] ?? 50_000);
const RUNS = Number(process.env['SGEVENTD_BENCH_RUNS'] ?? 3);
const ONLY = process.env['SGEVENTD_BENCH_DAEMON_ONLY']?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
const wanted = (scenario: 'one' | 'python' | 'toolkit' | 'ten' | 'state'): boolean => ONLY.length === 0 || ONLY.includes(scenario);
const NODE_OPTIONS = process.env['SGEVENTD_BENCH_DAEMON_NODE_OPTIONS'];
const BASE = process.env['SGEVENTD_BENCH_BASE'];
const BASE_BIN = BASE === undefined ? undefined : join(BASE, 'bin', 'sgeventd.mjs');
// The state flush settings a daemon runs with by default (the config schema's).
const DEFAULTS = parseConfig({ site: { url: 'http://127.0.0.1:9', script: { name: 'bench', key: 'bench' } } }, { source: 'bench', env: {} }).daemon;

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

/**
 * CPU time (user + system, ms) used so far by process `pid` and every process
 * below it (plugin processes), from /proc; null where there is no /proc.
 * Wall-clock rates move with the machine's load; CPU per event much less.
 */
function treeCpuMs(pid: number): number | null {
  if (!existsSync('/proc/self/stat')) return null;
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, s] of stats) if (!tree.has(p) && tree.has(s.ppid)) { tree.add(p); grew = true; }
  }
  let ticks = 0;
  for (const p of tree) ticks += stats.get(p)?.ticks ?? 0;
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** CPU time (user + system, ms) this process (the bench, holding the site) used so far. */
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function waitMarks(marks: string, names: string[], alive: () => boolean, timeoutMs: number, pid?: number): Promise<{ first: number; last: number; cpuMs: number | null; siteCpuMs: number | null } | null> {
  const deadline = Date.now() + timeoutMs;
  let cpuAtFirst: number | null = null;
  let ownAtFirst: number | null = null;
  while (Date.now() < deadline && alive()) {
    if (pid !== undefined && cpuAtFirst === null && names.some((n) => existsSync(join(marks, `first-${n}`)))) {
      ownAtFirst = ownCpuMs();
      cpuAtFirst = treeCpuMs(pid);
    }
    if (names.every((n) => existsSync(join(marks, `last-${n}`)))) {
      const ownAtLast = ownAtFirst === null ? null : ownCpuMs();
      const cpuAtLast = pid === undefined ? null : treeCpuMs(pid);
      const read = (f: string) => Number(readFileSync(join(marks, f), 'utf8'));
      return {
        first: Math.min(...names.map((n) => read(`first-${n}`))), last: Math.max(...names.map((n) => read(`last-${n}`))),
        cpuMs: cpuAtFirst === null || cpuAtLast === null ? null : cpuAtLast - cpuAtFirst,
        siteCpuMs: ownAtFirst === null || ownAtLast === null ? null : ownAtLast - ownAtFirst,
      };
    }
    await sleep(pid === undefined ? 100 : 20);
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

/** Writes `count` no-op JS plugins into the harness's plugin folder; returns their file names. */
async function noopPlugins(h: Harness, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `noop${i}.mjs`;
    await writeFile(join(h.plugins, name), NOOP_JS);
    await chmod(join(h.plugins, name), 0o644);
    names.push(name);
  }
  return names;
}

/** CPU ms per 1,000 events of each sgeventd catch-up run, by scenario (read by the figures below). */
const cpuPerThousand = new Map<string, number[]>();
/** The same for this process, which holds the site serving the reads (and polls for the marks). */
const siteCpuPerThousand = new Map<string, number[]>();

/** One catch-up of `sgeventd foreground` over the backlog, from a fresh state; events/s. */
async function sgeventdOnce(h: Harness, ids: number[], marks: string, names: string[], run: number | string, scenario: string, bin?: string): Promise<number> {
  await rm(marks, { recursive: true, force: true });
  await mkdir(marks);
  const pidFile = join(h.dir, `sgeventd-${run}.pid`);
  const yaml = await writeYaml(h, { state: join(h.dir, `state-${run}.db`), pidFile, fetchIntervalMs: 1000 });
  const env = { ...childEnv(h), BENCH_FIRST: String(ids[0]), BENCH_LAST: String(ids.at(-1)), BENCH_MARKS: marks, ...(NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS }) };
  // stop() waits for this pid file before SIGTERM (without it: a minute per run).
  const d = spawnDaemon(h, yaml, ['--from', String(ids[0]! - 1)], env, pidFile, bin);
  try {
    const t = await waitMarks(marks, names, () => d.child.exitCode === null, 600_000, d.child.pid);
    if (t === null) throw new Error(`sgeventd did not catch up: ${d.output()}`);
    if (t.cpuMs !== null) cpuPerThousand.set(scenario, [...(cpuPerThousand.get(scenario) ?? []), (t.cpuMs * 1000) / (ids.length - 1)]);
    if (t.siteCpuMs !== null) siteCpuPerThousand.set(scenario, [...(siteCpuPerThousand.get(scenario) ?? []), (t.siteCpuMs * 1000) / (ids.length - 1)]);
    return (ids.length - 1) / ((t.last - t.first) / 1000);
  } finally {
    await d.stop();
  }
}

async function stateCostPerEvent(plugins: number, synchronous: 'normal' | 'full'): Promise<{ totalUs: number; commitUs: number; commits: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-bench-state-'));
  try {
    const store = await openSqliteState(join(dir, 'state.db'), { synchronous });
    let commitMs = 0;
    let commits = 0;
    const commit = store.commit.bind(store);
    store.commit = async (batch: StateBatch) => {
      const t0 = performance.now();
      await commit(batch);
      commitMs += performance.now() - t0;
      commits++;
    };
    const batcher = new StateBatcher(store, { flushMs: DEFAULTS.stateFlushMs, flushEvents: DEFAULTS.stateFlushEvents, logger: pino({ level: 'silent' }) });
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

/** One catch-up of shotgunEvents itself over the backlog, from a fresh id file, with its own plugin folder; events/s. */
async function shotgunEventsOnce(h: Harness, ids: number[], marks: string, sge: ShotgunEventsSources, run: number): Promise<number> {
  await rm(marks, { recursive: true, force: true });
  await mkdir(marks);
  const plugins = join(h.dir, 'sge-plugins');
  await mkdir(plugins, { recursive: true, mode: 0o755 });
  await writeFile(join(plugins, 'noop.py'), NOOP_PY);
  await chmod(join(plugins, 'noop.py'), 0o644);
  const d = await startShotgunEvents({
    sge, dir: join(h.dir, `sge-${run}`), plugins, pluginNames: ['noop'], siteUrl: h.site.url, fromId: ids[0]! - 1,
    env: { BENCH_FIRST: String(ids[0]), BENCH_LAST: String(ids.at(-1)), BENCH_MARKS: marks },
  });
  const started = Date.now();
  try {
    const t = await waitMarks(marks, ['noop'], d.alive, 900_000);
    if (t !== null) return (ids.length - 1) / ((t.last - t.first) / 1000);
    throw new Error(`shotgunEvents did not reach the last event in ${Math.round((Date.now() - started) / 1000)} s: ${d.output().slice(-2000)}`);
  } finally {
    d.kill();
  }
}

const round = (x: number): number => Math.round(x);

export async function run(): Promise<{ name: string; results: Record<string, number | string>; notes?: string[] }> {
  const results: Record<string, number | string> = { events: EVENTS, runs: RUNS };
  const notes: string[] = [];
  const sge = shotgunEventsSources();

  // One plugin: sgeventd and shotgunEvents take turns on the same backlog, so
  // a change in the machine's load moves both.
  if (wanted('one')) await withBacklog(async (h, ids, marks) => {
    const names = await noopPlugins(h, 1);
    const ours: number[] = [];
    const theirs: number[] = [];
    const before: number[] = [];
    let failed: unknown = null;
    for (let r = 0; r < RUNS; r++) {
      ours.push(await sgeventdOnce(h, ids, marks, names, r, '1 no-op JS plugin'));
      if (BASE_BIN !== undefined) before.push(await sgeventdOnce(h, ids, marks, names, `before-${r}`, '1 no-op JS plugin [before]', BASE_BIN));
      if (sge !== null && failed === null) {
        try {
          theirs.push(await shotgunEventsOnce(h, ids, marks, sge, r));
        } catch (err) {
          failed = err;
        }
      }
    }
    results['catch-up events/s, 1 no-op plugin (median)'] = round(median(ours));
    results['catch-up events/s, 1 no-op plugin (runs)'] = ours.map(round).join(', ');
    if (BASE_BIN !== undefined) {
      results['catch-up events/s, 1 no-op plugin [before] (median)'] = round(median(before));
      results['catch-up events/s, 1 no-op plugin [before] (runs)'] = before.map(round).join(', ');
      results['catch-up events/s, this / before (medians)'] = (median(ours) / median(before)).toFixed(2);
      notes.push(`[before]: ${BASE}, measured in turns with this checkout.`);
    }
    if (sge === null) {
      notes.push('shotgunEvents itself not run (set SGEVENTD_BENCH_SHOTGUNEVENTS and SGEVENTD_BENCH_PYTHONPATH); only its state-saving pattern is measured.');
    } else if (failed !== null) {
      results['shotgunEvents catch-up events/s, 1 no-op plugin'] = 'failed';
      notes.push(`shotgunEvents could not be run here: ${(failed instanceof Error ? failed.message : JSON.stringify(failed)).slice(0, 500)}`);
    } else {
      results['shotgunEvents catch-up events/s, 1 no-op plugin (median)'] = round(median(theirs));
      results['shotgunEvents catch-up events/s, 1 no-op plugin (runs)'] = theirs.map(round).join(', ');
      results['sgeventd / shotgunEvents, 1 no-op plugin (medians)'] = Math.round((median(ours) / median(theirs)) * 10) / 10;
      results['sgeventd / shotgunEvents, 1 no-op plugin (each turn)'] = theirs.map((t, i) => (Math.round(((ours[i] ?? NaN) / t) * 10) / 10).toFixed(1)).join(', ');
      if (BASE_BIN !== undefined) results['sgeventd [before] / shotgunEvents, 1 no-op plugin (medians)'] = Math.round((median(before) / median(theirs)) * 10) / 10;
      notes.push(`shotgunEvents (${sge.sources}, shotgun_api3 from ${sge.pythonPath}) ran to the end of the backlog each time, same site, backlog and no-op plugin, taking turns with sgeventd.`);
    }
  });
  // An unchanged shotgunEvents plugin (the same no-op Python file) run by sgeventd.
  if (wanted('python')) await withBacklog(async (h, ids, marks) => {
    await writeFile(join(h.plugins, 'noop.py'), NOOP_PY);
    await chmod(join(h.plugins, 'noop.py'), 0o644);
    const rates: number[] = [];
    for (let r = 0; r < RUNS; r++) rates.push(await sgeventdOnce(h, ids, marks, ['noop'], r, 'the no-op Python plugin'));
    results['catch-up events/s, the same no-op Python plugin run by sgeventd (median)'] = round(median(rates));
  });
  // The same plugin declaring SGEVENTD_TOOLKIT = True: every event runs in its project's warm runtime (a stand-in core).
  if (wanted('toolkit')) await withBacklog(async (h, ids, marks) => {
    const project = await h.sg.findOne('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
    const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: project?.['id'] }], ['code', 'is', 'Primary']], ['id']);
    const config = writeConfig(join(h.dir, 'configs', 'bench'), { core: { localized: { version: 'v0.0.0-bench', api3Version: '3.0.0' } }, projectId: Number(project?.['id']) });
    await h.sg.update('PipelineConfiguration', Number(pc?.['id']), { linux_path: config, mac_path: null, windows_path: null, plugin_ids: null, descriptor: null });
    await writeFile(join(h.plugins, 'noop.py'), `${NOOP_PY}\nSGEVENTD_TOOLKIT = True\n`);
    await chmod(join(h.plugins, 'noop.py'), 0o644);
    const rates: number[] = [];
    for (let r = 0; r < RUNS; r++) rates.push(await sgeventdOnce(h, ids, marks, ['noop'], r, 'the no-op Python plugin in a Toolkit runtime'));
    results['catch-up events/s, the same no-op Python plugin in its project\'s Toolkit runtime (median)'] = round(median(rates));
  });
  if (wanted('ten')) await withBacklog(async (h, ids, marks) => {
    const names = await noopPlugins(h, 10);
    const rates: number[] = [];
    for (let r = 0; r < RUNS; r++) rates.push(await sgeventdOnce(h, ids, marks, names, r, '10 no-op JS plugins'));
    results['catch-up events/s, 10 no-op plugins (each plugin, median)'] = round(median(rates));
    results['callbacks/s, 10 no-op plugins (median)'] = round(median(rates) * 10);
  });
  for (const sync of wanted('state') ? ['normal', 'full'] as const : []) {
    for (const p of [1, 10]) {
      const s = await stateCostPerEvent(p, sync);
      results[`state cost µs per event and plugin, ${p} plugin(s), stateSync ${sync} (batcher + commits)`] = Math.round(s.totalUs * 100) / 100;
      results[`state commit µs per event and plugin, ${p} plugin(s), stateSync ${sync}`] = Math.round(s.commitUs * 100) / 100;
    }
  }
  if (wanted('state')) {
    results['shotgunEvents state save µs per event (pickle of the whole state, 1 plugin)'] = Math.round(picklePerEventUs(1) * 10) / 10;
    results['shotgunEvents state save µs per event (pickle of the whole state, 10 plugins)'] = Math.round(picklePerEventUs(10) * 10) / 10;
  }
  for (const [scenario, values] of cpuPerThousand) {
    results[`daemon CPU ms per 1,000 events during the catch-up (process and its plugin processes), ${scenario} (median)`] = Math.round(median(values) * 10) / 10;
  }
  for (const [scenario, values] of siteCpuPerThousand) {
    results[`site CPU ms per 1,000 events served during the catch-up (the bench process), ${scenario} (median)`] = Math.round(median(values) * 10) / 10;
  }
  notes.push('The daemon runs as its own process and the site in the bench process, both on this machine; catch-up is timed from the first event reaching a plugin to the last event reaching every plugin.');
  notes.push(`State cost: StateBatcher calls as the lanes make them (plugin row, counter, eventDone) with the SQLite commits they trigger (flushEvents ${DEFAULTS.stateFlushEvents}, flushMs ${DEFAULTS.stateFlushMs}, the defaults).`);
  return { name: 'daemon', results, notes };
}
