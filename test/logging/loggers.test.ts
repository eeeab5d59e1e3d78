import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLoggers } from '../../src/logging/index.ts';
import type { LoggingConfig } from '../../src/config/index.ts';
import { Secret } from '../../src/shared/index.ts';
import { tempDir, waitFor } from '../support/index.ts';

function config(dir: string, over: Partial<LoggingConfig> = {}): LoggingConfig {
  return { level: 'info', dir, file: 'sgeventd', mode: 'per-plugin', timing: true, rotate: { frequency: 'size', maxSizeMb: 1, keep: 2 }, ...over };
}

describe('log files', () => {
  it('rotate by size and keep at most `keep` old files', async (t) => {
    const dir = tempDir(t, 'sgeventd-logs-');
    const loggers = await createLoggers(config(dir), { console: false, files: true });
    const engineFiles = (): string[] => readdirSync(dir).filter((f) => f.startsWith('sgeventd.'));
    const onDisk = (i: number): boolean => engineFiles().some((f) => readFileSync(join(dir, f), 'utf8').includes(`"i":${i},`));
    const line = 'x'.repeat(1000);
    for (let i = 0; i < 4000; i++) {
      loggers.engine.info({ i }, line);
      // The stream notices the size as it writes: let each half megabyte reach the disk before the next.
      if (i % 500 === 499) await waitFor(() => onDisk(i), `log line ${i} on disk`);
    }
    await loggers.close();
    // Old files are removed after each rotation, in the background.
    const engine = await waitFor(() => {
      const files = engineFiles();
      return files.length >= 2 && files.length <= 3 ? files : undefined;
    }, 'the engine log rotated into the current file and at most 2 old ones', 10_000);
    assert.ok(engine.length >= 2, `rotated into several files: ${engine.join(', ')}`);
    assert.ok(engine.length <= 3, `keeps at most 2 old files beside the current one: ${engine.join(', ')}`);
  });

  it('write each plugin to its own file, timing lines to the timing log, and never a secret', async (t) => {
    const dir = tempDir(t, 'sgeventd-logs-');
    const loggers = await createLoggers(config(dir, { rotate: { frequency: 'daily', maxSizeMb: 50, keep: 3 } }), { console: false, files: true });
    const plugin = await loggers.plugin('notify');
    plugin.info({ key: 'script-key-value-1234', nested: { password: 'smtp-pw-5678' }, secret: new Secret('token-abcdef-9999') }, 'plugin line');
    loggers.timing?.info({ event: 1, plugin: 'notify', duration_ms: 3 });
    loggers.engine.info('engine line');
    await loggers.close();
    const files = (): string[] => readdirSync(dir);
    const read = (prefix: string): string => files().filter((f) => f.startsWith(prefix)).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    // The streams finish their last writes after close() returns.
    await waitFor(() => read('plugin-notify.').includes('plugin line') && read('sgeventd.').includes('engine line') && read('sgeventd-timing.').includes('"event":1'),
      'the three lines on disk', 10_000);
    const pluginLog = read('plugin-notify.');
    assert.match(pluginLog, /plugin line/);
    assert.doesNotMatch(read('sgeventd.') , /plugin line/, 'per-plugin mode keeps plugin records out of the engine file');
    assert.match(read('sgeventd-timing.'), /"duration_ms":3/);
    for (const secret of ['script-key-value-1234', 'smtp-pw-5678', 'token-abcdef-9999']) {
      assert.ok(!files().some((f) => readFileSync(join(dir, f), 'utf8').includes(secret)), `${secret} reached a log file`);
    }
  });
});

describe('log files opened late (the daemon opens them once its plugins are starting)', () => {
  it('keep what was written before they opened, in order, and write it first', async (t) => {
    const dir = tempDir(t, 'sgeventd-logs-');
    const loggers = await createLoggers(config(dir), { console: false, files: true, deferFiles: true });
    const plugin = await loggers.plugin('notify');
    for (let i = 0; i < 50; i++) loggers.engine.info({ i }, 'before open');
    plugin.info('plugin before open');
    assert.deepEqual(readdirSync(dir), [], 'nothing opened yet');
    await loggers.openFiles();
    for (let i = 50; i < 60; i++) loggers.engine.info({ i }, 'after open');
    await loggers.close();
    const read = (prefix: string): string => readdirSync(dir).filter((f) => f.startsWith(prefix)).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    await waitFor(() => read('sgeventd.').includes('"i":59,') && read('plugin-notify.').includes('plugin before open'), 'every line on disk', 10_000);
    const order = read('sgeventd.').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    assert.deepEqual(order, Array.from({ length: 60 }, (_, i) => i));
  });
});
