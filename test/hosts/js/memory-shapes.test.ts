// The allocation shapes a plugin thread's memory limit must catch without
// taking the daemon down (docs/ARCHITECTURE.md, "Limits per host"): each runs
// in a process of its own, so an abort would show as that process dying.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../support/index.ts';

const RUN = fileURLToPath(new URL('../../fixtures/plugins/run-one-event.ts', import.meta.url));
const plugin = (name: string): string => fileURLToPath(new URL(`../../fixtures/plugins/${name}`, import.meta.url));

function run(file: string, eventType: string, limitMb: number, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, file, eventType, String(limitMb)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('memory limits: allocation shapes end the plugin thread, never the process', () => {
  it('heap growth in many objects: the thread ends with PLUGIN_MEMORY_LIMIT, the process lives', async () => {
    const r = await run(plugin('oom.ts'), 'oom', 64);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /result deactivate PLUGIN_MEMORY_LIMIT/);
  });

  it('Buffers held without bound: sampled, the thread ends with PLUGIN_MEMORY_LIMIT, the process lives', async () => {
    const r = await run(plugin('oom-buffers.ts'), 'oom', 64);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /result deactivate PLUGIN_MEMORY_LIMIT/);
  });

  for (const shape of ['array', 'map']) {
    // A worker growing one backing store up to V8's heap limit can abort the
    // whole process (FATAL ERROR: Reached heap limit, exit 134): one growth
    // step copies the store into one half as large again. V8's limit for a
    // thread is set well above maxMemoryMb and the limit is enforced by
    // sampling (memory-watch.ts), so the thread ends first.
    it(`one ${shape} grown element by element: the thread ends with PLUGIN_MEMORY_LIMIT, the process lives`, async () => {
      const r = await run(plugin('grow-one-array.ts'), shape, 64);
      assert.equal(r.code, 0, `code ${String(r.code)} signal ${String(r.signal)}: ${r.out}`);
      assert.match(r.out, /result deactivate PLUGIN_MEMORY_LIMIT/);
    });
  }

  // The heap sampled over the limit is not enough to end a thread: it may be
  // garbage V8 has not collected yet. The thread is asked to collect first.
  it('garbage over the limit, in bursts with the thread idle after each: collected, the thread is not ended', async (t) => {
    const report = join(tempDir(t, 'sgeventd-shape-'), 'max-heap');
    const r = await run(plugin('heap-over-limit.ts'), 'bursts', 64, { SHAPE_LIMIT_MB: '64', SHAPE_REPORT: report });
    assert.equal(r.code, 0, `code ${String(r.code)} signal ${String(r.signal)}: ${r.out}`);
    // The case is real: the thread's heap (garbage) did go over the limit.
    assert.ok(Number(readFileSync(report, 'utf8')) > 64, `heap use reached ${readFileSync(report, 'utf8')} MB`);
    assert.match(r.out, /result ok/);
  });

  it('more than the limit held by a thread that yields: the thread ends with PLUGIN_MEMORY_LIMIT, the process lives', async () => {
    const r = await run(plugin('heap-over-limit.ts'), 'hold', 64, { SHAPE_LIMIT_MB: '64' });
    assert.equal(r.code, 0, `code ${String(r.code)} signal ${String(r.signal)}: ${r.out}`);
    // Seen after the thread's own full GC, or (a thread that did not get to
    // answer within a second on a starved machine) over on every reading.
    assert.match(r.out, /result deactivate PLUGIN_MEMORY_LIMIT (collected|busy)/);
  });
});
