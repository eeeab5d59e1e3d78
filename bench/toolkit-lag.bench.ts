/**
 * Toolkit lag (issue 12): one plugin over two projects. Project A's events
 * each cost 1 s of Toolkit work in A's runtime (a stand-in core; the studio
 * hook `studio_hooks:sleep` of the test fixtures sleeps there); project B's
 * events are light (the same hook, 0 ms, in B's runtime). B's lag is the time
 * from its event's creation on the site to its callback being entered; the
 * figure that counts is how much A's load raises B's p99 lag (goal: ≤ 100 ms).
 *
 * Each variant runs twice per turn on a live site: B's events alone, then B's
 * events with A's load beside them (A creates events twice as fast as its
 * plugin can do their work). Variants: a TS plugin with
 * `concurrency: { by: project, max: 16 }`, the same TS plugin serial (the
 * default: shows what A costs B without concurrency), and an unchanged-style
 * Python plugin declaring `SGEVENTD_TOOLKIT = True` with `by: project` from
 * the config.
 *
 * Events are created in the bench process (the site runs here, no added
 * latency) at fixed times; callbacks append `<shot id> <Date.now()>` to a file
 * on entry. The daemon polls every 100 ms so the poll interval does not bury
 * the figure. SGEVENTD_BENCH_RUNS sets the turns (default 3; lags of all turns
 * are pooled, p99 per turn listed too).
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeHarness, type Harness } from '../test/dispatch/harness.ts';
import { writeYaml, spawnDaemon, childEnv } from '../test/dispatch/child.ts';
import { writeConfig } from '../test/fixtures/toolkit/fake-cores.ts';
import { FIXTURES, PYTHON } from '../test/toolkit/helpers.ts';
import { median } from './shotgun-events.ts';
import { effectiveConcurrency } from './sgeventd-check.ts';

const RUNS = Number(process.env['SGEVENTD_BENCH_RUNS'] ?? 3);
/** How long events are created for. */
const LOAD_MS = Number(process.env['SGEVENTD_BENCH_LAG_MS'] ?? 15_000);
const B_EVERY_MS = 150;
/** A's events each cost 1 s: one every 500 ms is twice what A's plugin can do one at a time. */
const A_EVERY_MS = 500;
const A_WORK_MS = 1000;
const WAIT_MS = 300_000;

const TS_PLUGIN = `import { appendFileSync } from 'node:fs';

const HEAVY = Number(process.env.BENCH_HEAVY_PROJECT), MARKS = String(process.env.BENCH_MARKS), WORK_MS = Number(process.env.BENCH_WORK_MS);

interface Ctx {
  event: { entity: { id: number }; project: { id: number } };
  toolkit: { forProject(e: unknown): { run(fn: string, args: unknown): Promise<unknown> } };
}

export function registerCallbacks(reg: { registerCallback(...a: unknown[]): void }): void {
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx: Ctx) => {
    appendFileSync(MARKS, ctx.event.entity.id + ' ' + Date.now() + ' entered\\n');
    await ctx.toolkit.forProject(ctx.event).run('studio_hooks:sleep', { ms: ctx.event.project.id === HEAVY ? WORK_MS : 0 });
    appendFileSync(MARKS, ctx.event.entity.id + ' ' + Date.now() + ' done\\n');
  }, { Shotgun_Shot_New: ['*'] });
}
`;

const PY_PLUGIN = `import os, time

SGEVENTD_TOOLKIT = True
HEAVY, MARKS, WORK_MS = int(os.environ["BENCH_HEAVY_PROJECT"]), os.environ["BENCH_MARKS"], int(os.environ["BENCH_WORK_MS"])


def registerCallbacks(reg):
    reg.registerCallback("sgeventd", "sgeventd-key", on_shot, {"Shotgun_Shot_New": ["*"]}, None)


def on_shot(sg, logger, event, args):
    with open(MARKS, "a") as f:
        f.write("%d %d entered\\n" % (event["entity"]["id"], int(time.time() * 1000)))
    if event["project"]["id"] == HEAVY:
        time.sleep(WORK_MS / 1000.0)  # Toolkit work, in this project's runtime
    with open(MARKS, "a") as f:
        f.write("%d %d done\\n" % (event["entity"]["id"], int(time.time() * 1000)))
`;

interface Variant {
  label: string;
  plugin: 'ts' | 'py';
  concurrency: { by: 'project'; max: number } | null;
}

const VARIANTS: readonly Variant[] = [
  { label: 'TS plugin, by project max 16', plugin: 'ts', concurrency: { by: 'project', max: 16 } },
  { label: 'TS plugin, serial', plugin: 'ts', concurrency: null },
  { label: 'Python SGEVENTD_TOOLKIT plugin, by project max 16', plugin: 'py', concurrency: { by: 'project', max: 16 } },
];

/** Two projects, each with its own fake core; returns [A, B]. */
async function twoProjects(h: Harness): Promise<[number, number]> {
  const projects = await h.sg.find('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
  const ids = projects.slice(0, 2).map((p) => Number(p['id']));
  if (ids.length < 2) throw new Error('the demo seed has two projects');
  for (const [i, id] of ids.entries()) {
    const config = writeConfig(join(h.dir, 'configs', `p${id}`), { core: { localized: { version: `v0.0.${i}-bench`, api3Version: '3.0.0' } }, projectId: id });
    const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id }], ['code', 'is', 'Primary']], ['id']);
    if (pc === null) throw new Error(`project ${id} has no Primary PipelineConfiguration`);
    await h.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: config, mac_path: null, windows_path: null, plugin_ids: null, descriptor: null });
  }
  return [ids[0]!, ids[1]!];
}

/** Shot id → when its callback was first entered (or, with `what = 'done'`, first finished), from the marks file. */
function entries(marks: string, what: 'entered' | 'done' = 'entered'): Map<number, number> {
  const out = new Map<number, number>();
  if (!existsSync(marks)) return out;
  for (const line of readFileSync(marks, 'utf8').split('\n')) {
    const [id, at, kind] = line.split(' ');
    if (kind === what && !out.has(Number(id))) out.set(Number(id), Number(at));
  }
  return out;
}

async function until(what: string, probe: () => boolean, alive: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (!alive()) throw new Error(`the daemon exited while waiting for ${what}: ${output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${output().slice(-2000)}`);
    await sleep(20);
  }
}

async function lagYaml(h: Harness, v: Variant, folder: string, tag: string): Promise<string> {
  return writeYaml(h, { state: join(h.dir, `state-${tag}.db`), pidFile: join(h.dir, `sgeventd-${tag}.pid`), fetchIntervalMs: 100 },
    { path: folder, ...(v.concurrency === null ? {} : { concurrency: v.concurrency }) },
    { toolkit: { python: PYTHON, pythonPath: [join(FIXTURES, 'studio_py')] } });
}

function lagEnv(h: Harness, heavyProject: number, marks: string): NodeJS.ProcessEnv {
  return { ...childEnv(h), BENCH_HEAVY_PROJECT: String(heavyProject), BENCH_MARKS: marks, BENCH_WORK_MS: String(A_WORK_MS) };
}

/** Lags (ms) of B's events, with or without A's load. */
async function lagsOnce(h: Harness, v: Variant, folder: string, projects: [number, number], withLoad: boolean, tag: string): Promise<number[]> {
  const [a, b] = projects;
  const marks = join(h.dir, `marks-${tag}.txt`);
  await rm(marks, { force: true });
  const actor = h.site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const shot = (project: number, code: string): number => h.site.writer.create(actor, 'Shot', [{ field_name: 'code', value: code }, { field_name: 'project', value: { type: 'Project', id: project } }]).id;
  const yaml = await lagYaml(h, v, folder, tag);
  const env = lagEnv(h, a, marks);
  const d = spawnDaemon(h, yaml, ['--from', String(h.site.store.lastEventId())], env);
  const alive = (): boolean => d.child.exitCode === null && d.child.signalCode === null;
  try {
    // Warm up: both runtimes started and the plugin loaded before anything is measured.
    const warm = [shot(a, `warm-a-${tag}`), shot(b, `warm-b-${tag}`)];
    // Both finished, so every run starts from idle lanes.
    await until('the warm-up events', () => { const e = entries(marks, 'done'); return warm.every((id) => e.has(id)); }, alive, () => d.output());
    const created = new Map<number, number>();
    const t0 = performance.now();
    let nextB = 0;
    let nextA = 0;
    while (performance.now() - t0 < LOAD_MS) {
      const now = performance.now() - t0;
      if (now >= nextB * B_EVERY_MS) {
        const id = shot(b, `b-${tag}-${nextB++}`);
        created.set(id, Date.now());
      }
      if (withLoad && now >= nextA * A_EVERY_MS) shot(a, `a-${tag}-${nextA++}`);
      const next = Math.min(nextB * B_EVERY_MS, withLoad ? nextA * A_EVERY_MS : Infinity);
      await sleep(Math.max(0, next - (performance.now() - t0)));
    }
    await until('every B event\'s callback', () => { const e = entries(marks); return [...created.keys()].every((id) => e.has(id)); }, alive, () => d.output());
    const e = entries(marks);
    return [...created].map(([id, at]) => e.get(id)! - at);
  } finally {
    await d.kill9();
  }
}

function p99(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.max(0, Math.ceil(s.length * 0.99) - 1)] ?? NaN;
}

export async function run(): Promise<{ name: string; results: Record<string, number | string>; notes?: string[] }> {
  const results: Record<string, number | string> = { runs: RUNS, 'load window s': LOAD_MS / 1000, 'B event every ms': B_EVERY_MS, 'A event every ms (with load)': A_EVERY_MS, 'A Toolkit work per event ms': A_WORK_MS, 'load average (1 min) at start': loadavg()[0]!.toFixed(2) };
  const notes: string[] = [];
  const h = await makeHarness({ seed: 'demo' });
  try {
    const projects = await twoProjects(h);
    const folders: Record<'ts' | 'py', string> = { ts: join(h.dir, 'ts-plugins'), py: join(h.dir, 'py-plugins') };
    for (const [kind, dir] of Object.entries(folders) as Array<['ts' | 'py', string]>) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(dir, 0o755);
      const file = join(dir, kind === 'ts' ? 'tk_work.ts' : 'tk_work.py');
      await writeFile(file, kind === 'ts' ? TS_PLUGIN : PY_PLUGIN);
      await chmod(file, 0o644);
    }
    for (const v of VARIANTS) {
      results[`${v.label}: effective (sgeventd check)`] = await effectiveConcurrency(await lagYaml(h, v, folders[v.plugin], 'check'), lagEnv(h, projects[0], join(h.dir, 'marks-check.txt')));
    }
    const lags = new Map<string, number[][]>();
    for (let r = 0; r < RUNS; r++) {
      for (const [i, v] of VARIANTS.entries()) {
        for (const withLoad of [false, true]) {
          const key = `${v.label}, ${withLoad ? 'with' : 'without'} A's load`;
          const got = await lagsOnce(h, v, folders[v.plugin], projects, withLoad, `${r}-${i}-${withLoad ? 'a' : 'n'}`);
          lags.set(key, [...(lags.get(key) ?? []), got]);
        }
      }
    }
    for (const v of VARIANTS) {
      const without = lags.get(`${v.label}, without A's load`) ?? [];
      const withA = lags.get(`${v.label}, with A's load`) ?? [];
      for (const [name, turns] of [['without', without], ['with', withA]] as const) {
        const all = turns.flat();
        results[`${v.label}, ${name} A's load: B lag p50 ms`] = Math.round(median(all));
        results[`${v.label}, ${name} A's load: B lag p99 ms`] = Math.round(p99(all));
        results[`${v.label}, ${name} A's load: B lag p99 ms (each turn)`] = turns.map((t) => Math.round(p99(t))).join(', ');
      }
      results[`${v.label}: A raises B's p99 lag by ms`] = Math.round(p99(withA.flat()) - p99(without.flat()));
    }
    results['load average (1 min) at end'] = loadavg()[0]!.toFixed(2);
    notes.push(`Lag: the event's creation on the site (in the bench process) to its callback being entered (Date.now() in the plugin); the daemon polls the log every 100 ms, the site adds no latency. B creates an event every ${B_EVERY_MS} ms for ${LOAD_MS / 1000} s; with load, A creates one every ${A_EVERY_MS} ms, each costing ${A_WORK_MS} ms of work in A's runtime.`);
  } finally {
    await h.close();
  }
  return { name: 'toolkit-lag', results, notes };
}
