/**
 * Capacity scale-out (issue 15): 30 projects on Toolkit work, 1 node vs 3
 * nodes with the same per-node limits, and a control of 1 node with room for
 * every project's runtime. Each run is its own 3-server NATS cluster, local
 * site and `sgeventd foreground` nodes (the cluster test bed).
 *
 * The work waits, it does not compute: every event runs one call in its
 * project's runtime (a stand-in core whose `import tank` sleeps 300 ms), and
 * that call makes one request to the site, which answers after
 * `latencyMs`. The runtime is held for the whole call, so a node runs at most
 * `maxRuntimes` events at once, and a project whose runtime was evicted
 * (LRU) pays a cold start. The nodes share this machine's 2 cores: CPU-bound
 * work could not show what a second machine adds, waiting work can.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterBed, type ClusterBed } from '../test/cluster/cluster-bed.ts';
import { writeConfig, writeCore } from '../test/fixtures/toolkit/fake-cores.ts';
import { PYTHON } from '../test/toolkit/helpers.ts';

export interface CapacityOptions {
  projects: number;
  /** Measured events per project (after the warm-up). */
  perProject: number;
  latencyMs: number;
  startDelayMs: number;
  /** Callbacks at once per node (`concurrency.max`), the same in every run. */
  max: number;
  partitions: number;
  holdMs: number;
  windowMs: number;
}

export interface CapacityRun {
  label: string;
  nodes: number;
  maxRuntimes: number;
}

export interface CapacityResult {
  label: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Runtime starts after the warm-up (a project whose events ran in a runtime it had not used last). */
  coldStarts: number;
  /** The most cold starts of one project after the warm-up. */
  maxColdStartsPerProject: number;
  /** Share of the machine's CPU time that was busy over the measured part (all processes, /proc/stat). */
  cpuBusy: number;
  warmupRounds: number;
  /** Projects per node in the measured part (by where their events ran). */
  projectsPerNode: string;
  /** Per measured event, median, 90th percentile and longest, ms: one event's end to the next one's start in its project's lane. */
  laneGap: { median: number; p90: number; max: number };
  /** The measured part's first callback start to each project's last end, ms: the fastest and the slowest project. */
  laneSpan: { min: number; max: number };
  /** Per measured event, median and 90th percentile, ms: the site request the event's Toolkit call makes (as the runtime times it). */
  siteRequest: { median: number; p90: number };
  /** Per measured event, median and 90th percentile, ms: the callback's time beyond that site request (the node, the pool, the runtime). */
  overhead: { median: number; p90: number };
  loadAverage: string;
}

const PLUGIN = (max: number): string => `import { appendFileSync } from 'node:fs';

const RECORD = String(process.env.SGEVENTD_TEST_RECORD);
const NODE = String(process.env.SGEVENTD_TEST_NODE);

interface Ctx {
  event: { id: number; project: { id: number } | null };
  toolkit: { forProject(e: unknown): { run(fn: string, args?: unknown): Promise<unknown> } };
}

export function registerCallbacks(reg: { registerCallback(...a: unknown[]): void; setConcurrency(c: unknown): void }): void {
  reg.setConcurrency({ by: 'project', max: ${max} });
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx: Ctx) => {
    const project = ctx.event.project?.id ?? 0;
    appendFileSync(RECORD, 'scale ' + NODE + ' ' + process.pid + ' ' + ctx.event.id + ' p' + project + ' start ' + Date.now() + '\\n');
    const pid = await ctx.toolkit.forProject(ctx.event).run('scale_hooks:work', {});
    appendFileSync(RECORD, 'scale ' + NODE + ' ' + String(pid) + ' ' + ctx.event.id + ' p' + project + ' end ' + Date.now() + '\\n');
  }, { Shotgun_Shot_New: ['*'] });
}
`;

/** Studio code run in the project's runtime: one request to the site (which waits latencyMs), timed into trace.txt; then the runtime's pid. */
const HOOKS = `import json
import os
import time
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))


def work(ctx):
    with open(os.path.join(_HERE, "site_url.txt")) as f:
        url = f.read().strip()
    body = json.dumps({"method_name": "info", "params": []}).encode()
    req = urllib.request.Request(url + "/api3/json", data=body, headers={"Content-Type": "application/json"})
    began = time.time()
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
    ended = time.time()
    with open(os.path.join(_HERE, "trace.txt"), "a") as f:
        f.write("%d %d %d" % (os.getpid(), int(began * 1000), int(ended * 1000)) + chr(10))
    return os.getpid()
`;

interface End {
  node: string;
  pid: string;
  id: number;
  project: string;
  at: number;
}

function ends(bed: ClusterBed): { ends: Map<number, End>; starts: Map<number, number> } {
  const out = new Map<number, End>();
  const starts = new Map<number, number>();
  if (!existsSync(bed.record)) return { ends: out, starts };
  for (const l of readFileSync(bed.record, 'utf8').split('\n')) {
    const [plugin, node, pid, id, project, what, at] = l.split(' ');
    if (plugin !== 'scale') continue;
    if (what === 'start' && !starts.has(Number(id))) starts.set(Number(id), Number(at));
    if (what === 'end' && !out.has(Number(id))) out.set(Number(id), { node: node as string, pid: pid as string, id: Number(id), project: project as string, at: Number(at) });
  }
  return { ends: out, starts };
}

/** Busy and total CPU ticks of the whole machine (the first line of /proc/stat). */
function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Creates one Shot per project per round (round-robin), in batches; returns the shot count. */
async function createShots(bed: ClusterBed, projects: number[], rounds: number, tag: string): Promise<number> {
  const all = Array.from({ length: rounds * projects.length }, (_, i) => projects[i % projects.length] as number);
  for (let done = 0; done < all.length; done += 100) {
    await bed.site.sg.batch(all.slice(done, done + 100).map((project, k) => ({
      request_type: 'create' as const, entity_type: 'Shot', data: { code: `${tag}-${done + k}`, project: { type: 'Project', id: project } },
    })));
  }
  return all.length;
}

/**
 * The measured shots, created with their events held back and then shown at
 * once: the site runs in this process, and the callbacks being measured wait
 * on its answers, so it must not be busy creating shots meanwhile (creating
 * 600 while measuring delayed its answers by up to seconds in the first part
 * of the run, and more where more processes shared the cores: 3 nodes).
 */
async function createShotsAtOnce(bed: ClusterBed, projects: number[], rounds: number, tag: string, eventsPerShot: number): Promise<number> {
  const events = rounds * projects.length * eventsPerShot;
  bed.site.site.holdEvents(events);
  const shots = await createShots(bed, projects, rounds, tag);
  const held = bed.site.site.hiddenEventIds().length;
  if (held !== events) throw new Error(`expected ${events} held events (${eventsPerShot} per shot), the site holds ${held}`);
  bed.site.site.releaseEvents();
  return shots;
}

/** Per-event times (ms) from the callback lines and the runtimes' trace of their site requests. */
function stages(mine: End[], starts: Map<number, number>, traceFile: string): Pick<CapacityResult, 'laneGap' | 'laneSpan' | 'siteRequest' | 'overhead'> {
  const byPid = new Map<string, Array<{ from: number; to: number }>>();
  for (const l of existsSync(traceFile) ? readFileSync(traceFile, 'utf8').split('\n') : []) {
    const [pid, from, to] = l.split(' ');
    if (pid === undefined || to === undefined) continue;
    const list = byPid.get(pid) ?? [];
    byPid.set(pid, list);
    list.push({ from: Number(from), to: Number(to) });
  }
  const gaps: number[] = [];
  const site: number[] = [];
  const overhead: number[] = [];
  const lastEnd = new Map<string, number>();
  for (const e of mine) {
    const start = starts.get(e.id);
    if (start === undefined) continue;
    const before = lastEnd.get(e.project);
    if (before !== undefined) gaps.push(start - before);
    lastEnd.set(e.project, e.at);
    const call = byPid.get(e.pid)?.find((c) => c.from >= start && c.to <= e.at);
    if (call === undefined) continue;
    site.push(call.to - call.from);
    overhead.push(e.at - start - (call.to - call.from));
  }
  const pick = (xs: number[]): { median: number; p90: number; max: number } => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)] ?? 0, p90: s[Math.floor(s.length * 0.9)] ?? 0, max: s[s.length - 1] ?? 0 };
  };
  const first = Math.min(...mine.map((e) => starts.get(e.id) ?? e.at));
  const spans = [...lastEnd.values()].map((at) => at - first);
  return { laneGap: pick(gaps), laneSpan: { min: Math.min(...spans), max: Math.max(...spans) }, siteRequest: pick(site), overhead: pick(overhead) };
}

async function until<T>(what: string, probe: () => T | null, bed: ClusterBed, nodes: number, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = probe();
    if (got !== null) return got;
    for (let i = 0; i < nodes; i++) if (!bed.alive(i)) throw new Error(`node ${i + 1} exited while waiting for ${what}: ${bed.output(i).slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${bed.output(0).slice(-3000)}`);
    await sleep(200);
  }
}

/** One run: warm-up rounds until placement is settled, then `perProject` events per project, measured. */
export async function capacityRun(run: CapacityRun, o: CapacityOptions): Promise<CapacityResult> {
  const steps: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { steps.push(fn); } };
  const dir = mkdtempSync(join(tmpdir(), 'sgeventd-bench-scale-'));
  try {
    const studio = writeCore(join(dir, 'studio'), { version: 'v0.0.0-scale', api3Version: '3.0.0', startDelayMs: o.startDelayMs });
    const configsRoot = join(dir, 'configs');
    const hooks = join(dir, 'hooks');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'scale_hooks.py'), HOOKS);
    const pluginFile = join(dir, 'scale.ts');
    writeFileSync(pluginFile, PLUGIN(o.max));
    const bed = await clusterBed(t, {
      plugins: [], pluginFiles: [pluginFile], nodes: run.nodes,
      site: { seed: 'demo', latencyMs: o.latencyMs },
      daemon: { fetchIntervalMs: 100, stateFlushMs: 200 },
      cluster: { partitions: o.partitions, placement: { holdMs: o.holdMs, windowMs: o.windowMs } },
      sections: () => ({ toolkit: { python: PYTHON, pythonPath: [hooks], configsRoot, studioCore: studio, maxRuntimes: run.maxRuntimes, maxRuntimesPerProject: 1 } }),
    });
    writeFileSync(join(hooks, 'site_url.txt'), bed.site.url);
    const projects: number[] = [];
    for (let i = 0; i < o.projects; i++) {
      writeConfig(join(configsRoot, `scale_${i}`), { core: { cfg: `${studio}\n` }, projectId: i + 1 });
      const p = await bed.site.sg.create('Project', { name: `Scale ${i}`, tank_name: `scale_${i}` });
      projects.push(Number(p['id']));
    }
    await bed.allHeld().catch(() => null);
    // Warm-up: a round of one event per project at a time, until the node running each project stayed the same for 3 rounds
    // and for the hold time and the work window (placement weighs recent work, so it settles once a window of work has been seen).
    let expected = 0;
    let rounds = 0;
    let stableSince: number | null = null;
    let stableRounds = 0;
    let lastMap = '';
    let eventsPerShot = 0;
    while (rounds < 60) {
      const before = await bed.site.newestEventId();
      expected += await createShots(bed, projects, 1, `w${rounds}`);
      eventsPerShot = (await bed.site.newestEventId() - before) / projects.length;
      rounds++;
      const got = await until(`warm-up round ${rounds}`, () => { const e = ends(bed).ends; return e.size >= expected ? e : null; }, bed, run.nodes, 300_000);
      const latest = new Map<string, string>();
      for (const e of [...got.values()].sort((a, b) => a.id - b.id)) latest.set(e.project, e.node);
      const map = JSON.stringify([...latest].sort());
      if (map === lastMap) stableRounds++;
      else {
        stableRounds = 0;
        stableSince = Date.now();
        lastMap = map;
      }
      if (stableRounds >= 3 && Date.now() - (stableSince ?? 0) >= Math.max(o.holdMs, o.windowMs)) break;
    }
    const warm = ends(bed).ends;
    const lastPid = new Map<string, string>();
    for (const e of [...warm.values()].sort((a, b) => a.id - b.id)) lastPid.set(e.project, `${e.node}/${e.pid}`);
    const warmIds = new Set(warm.keys());

    const load = loadavg()[0] ?? 0;
    const cpu0 = cpuTicks();
    const measured = await createShotsAtOnce(bed, projects, o.perProject, 'm', eventsPerShot);
    expected += measured;
    const done = await until('the measured events', () => { const r = ends(bed); return r.ends.size >= expected ? r : null; }, bed, run.nodes, 900_000);
    const cpu1 = cpuTicks();
    const mine = [...done.ends.values()].filter((e) => !warmIds.has(e.id)).sort((a, b) => a.id - b.id);
    const first = Math.min(...mine.map((e) => done.starts.get(e.id) ?? e.at));
    const last = Math.max(...mine.map((e) => e.at));
    const cold = new Map<string, number>();
    const nodeProjects = new Map<string, Set<string>>();
    for (const e of mine) {
      const where = `${e.node}/${e.pid}`;
      if (lastPid.get(e.project) !== where) cold.set(e.project, (cold.get(e.project) ?? 0) + 1);
      lastPid.set(e.project, where);
      const set = nodeProjects.get(e.node) ?? new Set<string>();
      nodeProjects.set(e.node, set);
      set.add(e.project);
    }
    const seconds = (last - first) / 1000;
    return {
      label: run.label, events: mine.length, seconds: Math.round(seconds * 10) / 10,
      eventsPerSecond: Math.round((mine.length / seconds) * 10) / 10,
      coldStarts: [...cold.values()].reduce((a, b) => a + b, 0),
      maxColdStartsPerProject: Math.max(0, ...cold.values()),
      cpuBusy: Math.round(((cpu1.busy - cpu0.busy) / Math.max(1, cpu1.total - cpu0.total)) * 1000) / 10,
      warmupRounds: rounds,
      projectsPerNode: [...nodeProjects].sort().map(([n, s]) => `${n}: ${s.size}`).join(', '),
      ...stages(mine, done.starts, join(hooks, 'trace.txt')),
      loadAverage: `${load.toFixed(1)} / ${(loadavg()[0] ?? 0).toFixed(1)}`,
    };
  } finally {
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        process.stderr.write(`cleanup after the scale-out run failed: ${String(err)}\n`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
