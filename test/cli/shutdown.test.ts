import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Shutdown } from '../../src/cli/shutdown.ts';

describe('Shutdown', () => {
  it('holds a signal that comes while starting, and runs the steps in reverse once armed', async () => {
    const listeners = process.listenerCount('SIGTERM');
    const shutdown = new Shutdown();
    assert.equal(process.listenerCount('SIGTERM'), listeners + 1);
    const ran: string[] = [];
    shutdown.register(() => {
      ran.push('first registered');
      return Promise.resolve();
    });
    shutdown.register(() => {
      ran.push('last registered');
      return Promise.resolve();
    });
    process.emit('SIGTERM', 'SIGTERM');
    await tick();
    await tick();
    assert.deepEqual(ran, [], 'nothing stops before starting is over');
    shutdown.arm();
    await shutdown.finished;
    assert.deepEqual(ran, ['last registered', 'first registered']);
    assert.equal(process.listenerCount('SIGTERM'), listeners, 'its signal handlers are gone once done');
  });

  it('runs at once on a signal after arm(), and every step runs even when one fails', async () => {
    const shutdown = new Shutdown();
    shutdown.arm();
    const ran: string[] = [];
    shutdown.register(() => {
      ran.push('a');
      return Promise.resolve();
    });
    shutdown.register(() => Promise.reject(new Error('step failed')));
    const stderr = process.stderr.write.bind(process.stderr);
    const written: string[] = [];
    process.stderr.write = (chunk: string | Uint8Array): boolean => {
      written.push(String(chunk));
      return true;
    };
    try {
      process.emit('SIGINT', 'SIGINT');
      await shutdown.finished;
    } finally {
      process.stderr.write = stderr;
    }
    assert.deepEqual(ran, ['a']);
    assert.ok(written.some((w) => w.includes('step failed')), 'the failed step is reported');
  });

  it('arm() with no signal held does not stop anything', async () => {
    const shutdown = new Shutdown();
    let ran = false;
    shutdown.register(() => {
      ran = true;
      return Promise.resolve();
    });
    shutdown.arm();
    await tick();
    assert.equal(ran, false);
    await shutdown.run();
    assert.equal(ran, true);
  });

  it('a stop that hangs past its deadline ends the process with exit 1, naming the deadline', () => {
    const module = fileURLToPath(new URL('../../src/cli/shutdown.ts', import.meta.url));
    const script = `import { Shutdown } from ${JSON.stringify(module)};
      const s = new Shutdown(); s.deadlineMs = 300;
      setInterval(() => undefined, 1000); // a handle that keeps the process, as a hung stop step would
      s.register(() => new Promise(() => undefined));
      s.arm(); process.kill(process.pid, 'SIGTERM');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /did not finish within 300 ms/);
  });
});
