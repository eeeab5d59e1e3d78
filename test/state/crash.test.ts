import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteState } from '../../src/state/index.ts';
import { tempDir } from '../support/index.ts';

const LOOP = fileURLToPath(new URL('../fixtures/state/commit-loop.ts', import.meta.url));

/**
 * Starts the commit loop, waits until it has reported at least `minSteps`
 * committed, SIGKILLs it; returns the last step the parent read on stdout
 * (committed, but the pipe lags: the child may be far ahead) and the last
 * step the child began (written before its commit: nothing beyond it can be
 * committed, and every step before it was).
 */
async function runAndKill(path: string, minSteps: number, synchronous: string): Promise<{ reported: number; begun: number }> {
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
  const begun = readFileSync(`${path}.begun`, 'utf8').split('\n').filter((l) => /^\d+$/.test(l)).map(Number).at(-1) ?? 0;
  return { reported: last, begun };
}

describe('state after a killed writer', () => {
  for (const synchronous of ['full', 'normal']) {
    it(`reopens to one of the committed states, never empty or corrupt (synchronous=${synchronous})`, async (t) => {
      const dir = tempDir(t, 'sgeventd-crash-');
      for (const minSteps of [1, 40, 150]) {
        const path = join(dir, `state-${minSteps}.db`);
        const { reported, begun } = await runAndKill(path, minSteps, synchronous);
        const store = await openSqliteState(path);
        try {
          const [plugin] = await store.loadPlugins();
          assert.ok(plugin, 'the plugin row survived');
          const step = plugin.lastEventId ?? -1;
          // Every step the child reported committed survived; the child may have committed
          // more before the kill than the parent had read, but never beyond the step it began,
          // and every step before that one returned from commit, so it survived too.
          assert.ok(step >= reported, `state at step ${step}, child reported ${reported} committed`);
          assert.ok(step <= begun, `state at step ${step}, child had begun only ${begun}`);
          assert.ok(step >= begun - 1, `state at step ${step}, child had committed ${begun - 1} before beginning ${begun}`);
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
