// The allocation shapes a plugin thread's memory limit must catch without
// taking the daemon down (docs/ARCHITECTURE.md, "Limits per host"): each runs
// in a process of its own, so an abort would show as that process dying.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../fixtures/plugins/run-one-event.ts', import.meta.url));
const plugin = (name: string): string => fileURLToPath(new URL(`../../fixtures/plugins/${name}`, import.meta.url));

function run(file: string, eventType: string, limitMb: number): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, file, eventType, String(limitMb)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    // With V8's default young generation, a worker growing one backing store
    // past its heap limit can abort the whole process (FATAL ERROR: Reached
    // heap limit, exit 134); hosts give threads their own young generation,
    // under which the same shape ends the thread alone. This keeps that true.
    it(`one ${shape} grown element by element: the thread ends with PLUGIN_MEMORY_LIMIT, the process lives`, async () => {
      const r = await run(plugin('grow-one-array.ts'), shape, 64);
      assert.equal(r.code, 0, `code ${String(r.code)} signal ${String(r.signal)}: ${r.out}`);
      assert.match(r.out, /result deactivate PLUGIN_MEMORY_LIMIT/);
    });
  }
});
