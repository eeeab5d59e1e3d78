import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteState } from '../../src/state/index.ts';

const LOOP = fileURLToPath(new URL('../fixtures/state/commit-loop.ts', import.meta.url));

/** Starts the commit loop, waits until it has committed at least `minSteps`, SIGKILLs it; returns the last step it reported. */
async function runAndKill(path: string, minSteps: number, synchronous: string): Promise<number> {
  const child = spawn(process.execPath, [LOOP, path, synchronous], { stdio: ['ignore', 'pipe', 'pipe'] });
  let last = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  try {
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`commit loop reached only step ${last} in 30 s; stderr: ${stderr}`)), 30_000);
      let buffered = '';
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) last = Number(l);
        if (last >= minSteps) {
          clearTimeout(timer);
          ok();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`commit loop exited early (${code}); stderr: ${stderr}`));
      });
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return last;
}

describe('state after a killed writer', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  for (const synchronous of ['full', 'normal']) {
    it(`reopens to one of the committed states, never empty or corrupt (synchronous=${synchronous})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sgeventd-crash-'));
      dirs.push(dir);
      for (const minSteps of [1, 40, 150]) {
        const path = join(dir, `state-${minSteps}.db`);
        const reported = await runAndKill(path, minSteps, synchronous);
        const store = await openSqliteState(path);
        try {
          const [plugin] = await store.loadPlugins();
          assert.ok(plugin, 'the plugin row survived');
          const step = plugin.lastEventId ?? -1;
          // The child prints after commit returns, so the state holds at least that step
          // (and at most one more: killed between commit and print).
          assert.ok(step >= reported && step <= reported + 1, `state at step ${step}, child reported ${reported}`);
          // The rest of the batch is consistent with that step.
          assert.deepEqual(plugin.backlog, [{ eventId: step + 1000, expiresAt: step }]);
          const counters = await store.counters();
          assert.equal(counters.length, 1);
          assert.equal(counters[0]?.processed, step);
          assert.equal((await store.deadLetters.list()).length, Math.floor(step / 10));
          assert.equal(await store.boundSite(), 'http://127.0.0.1:1');
        } finally {
          await store.close();
        }
      }
    });
  }
});
