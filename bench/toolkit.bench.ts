/**
 * Project runtimes: cold start (resolve + spawn + init + first call), warm
 * `ping` and `call` round trips (p50/p99, calls/s), and the per-event cost
 * with two projects on two different cores alternating, for warm runtimes
 * (one per project), `isolation: swap` (one process switching cores), and a
 * new process per event. On fake cores always; on real tk-core when
 * SGEVENTD_TK_CORE_A and SGEVENTD_TK_CORE_B name two checkouts (fake cores
 * swap in microseconds and prove nothing about swap's real cost).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Secret } from '../src/shared/secret.ts';
import { RuntimePool, runtimePoolOptions } from '../src/toolkit/index.ts';
import type { RuntimePoolOptions } from '../src/toolkit/index.ts';
import { writeStudio } from '../test/fixtures/toolkit/fake-cores.ts';
import { coreVersion, writeRealConfig } from '../test/fixtures/toolkit/real-config.ts';
import type { BenchResult } from './run.ts';

const PYTHON = process.env.SGEVENTD_TK_PYTHON ?? execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const STUDIO_PY = path.join(import.meta.dirname, '..', 'test', 'fixtures', 'toolkit', 'studio_py');

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function makePool(dir: string, projects: RuntimePoolOptions['projects'], over: Partial<RuntimePoolOptions> = {}): RuntimePool {
  return new RuntimePool(runtimePoolOptions({
    python: PYTHON, projects, pythonPath: [STUDIO_PY], callTimeoutMs: 300_000, ...over,
  }), {
    site: { url: 'http://127.0.0.1:9', scriptName: 'bench', scriptKey: new Secret('bench-key') },
    stateDir: path.join(dir, 'state'), initTimeoutMs: 300_000, env: { ...process.env, FAKE_STUDIO_ROOT: dir },
  });
}

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** Per-event ms with projects 1 and 2 alternating, in each mode. */
async function alternating(dir: string, projects: RuntimePoolOptions['projects'], events: number, perProcessEvents: number, call: (p: RuntimePool, id: number) => Promise<unknown>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const warm = makePool(dir, projects);
  try {
    await call(warm, 1);
    await call(warm, 2);
    const t = await timeEach(events, (i) => call(warm, 1 + (i % 2)));
    out.warmMs = t.reduce((a, b) => a + b, 0) / t.length;
  } finally {
    await warm.close();
  }
  const swap = makePool(dir, projects, { isolation: 'swap' });
  try {
    await call(swap, 1);
    const t = await timeEach(events, (i) => call(swap, 2 - (i % 2)));
    out.swapMs = t.reduce((a, b) => a + b, 0) / t.length;
  } finally {
    await swap.close();
  }
  const fresh = makePool(dir, projects, { maxCallsPerRuntime: 1 });
  try {
    const t = await timeEach(perProcessEvents, (i) => call(fresh, 1 + (i % 2)));
    out.newProcessMs = t.reduce((a, b) => a + b, 0) / t.length;
  } finally {
    await fresh.close();
  }
  return out;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sgeventd-tk-bench-'));
  const results: Record<string, number | string> = {};
  const notes: string[] = [`python ${PYTHON}`];
  try {
    const studio = writeStudio(dir);
    const projects = { 1: { mode: 'centralized' as const, path: studio.alpha }, 2: { mode: 'centralized' as const, path: studio.beta } };
    const probe = (p: RuntimePool, id: number): Promise<unknown> => p.forProject(id).call('tk', 'probe');

    const cold = await timeEach(5, async () => {
      const p = makePool(dir, projects);
      try {
        await probe(p, 1);
      } finally {
        await p.close();
      }
    });
    results['fake: cold start p50 ms'] = pct(cold, 50);

    const p = makePool(dir, projects);
    try {
      const tk = p.forProject(1);
      await tk.call('tk', 'probe');
      for (const [label, fn] of [
        ['ping', () => tk.call('sgtk', '__version__')],
        ['call', () => tk.call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'sh010', version: 3 }])],
      ] as const) {
        await timeEach(200, fn);
        const n = 3000;
        const t0 = performance.now();
        const t = await timeEach(n, fn);
        const total = performance.now() - t0;
        results[`fake: warm ${label} p50 µs`] = pct(t, 50) * 1000;
        results[`fake: warm ${label} p99 µs`] = pct(t, 99) * 1000;
        results[`fake: warm ${label} calls/s`] = Math.round(n / (total / 1000));
      }
    } finally {
      await p.close();
    }

    const fake = await alternating(dir, projects, 400, 10, probe);
    for (const [k, v] of Object.entries(fake)) results[`fake: alternating ${k} per event`] = v;
    notes.push('"ping" is call(sgtk, __version__); "call" is tk.paths_from_template with a template and fields (JSON both ways).');

    const a = process.env.SGEVENTD_TK_CORE_A;
    const b = process.env.SGEVENTD_TK_CORE_B;
    if (a && b) {
      const ca = writeRealConfig(path.join(dir, 'real'), 'a', a, 101);
      const cb = writeRealConfig(path.join(dir, 'real'), 'b', b, 102);
      const real = { 1: { mode: 'centralized' as const, path: ca.config }, 2: { mode: 'centralized' as const, path: cb.config } };
      // The smallest Toolkit call, so the numbers are the cost of switching project, not of the work.
      const call = (pool: RuntimePool, id: number): Promise<unknown> => pool.forProject(id).call('tk', 'templates.shot_work');
      const r = await alternating(dir, real, 6, 4, call);
      for (const [k, v] of Object.entries(r)) results[`real: alternating ${k} per event`] = v;
      results['real: swap / warm'] = Math.round((r.swapMs ?? 0) / (r.warmMs ?? 1));
      const pool = makePool(dir, real);
      try {
        const tk = pool.forProject(1);
        await tk.call('tk', 'templates.shot_work');
        const t = await timeEach(300, () => tk.call('tk', 'templates.shot_work'));
        results['real: warm call p50 µs'] = pct(t, 50) * 1000;
        results['real: warm call p99 µs'] = pct(t, 99) * 1000;
      } finally {
        await pool.close();
      }
      results['real: cores'] = `${coreVersion(a)} / ${coreVersion(b)}`;
    } else {
      notes.push('real tk-core rows skipped: set SGEVENTD_TK_CORE_A and SGEVENTD_TK_CORE_B to two checkouts');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'toolkit', results, notes };
}
