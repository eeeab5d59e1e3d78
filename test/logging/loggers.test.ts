import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLoggers } from '../../src/logging/index.ts';
import type { LoggingConfig } from '../../src/config/index.ts';
import { Secret } from '../../src/shared/index.ts';

function config(dir: string, over: Partial<LoggingConfig> = {}): LoggingConfig {
  return { level: 'info', dir, file: 'sgeventd', mode: 'per-plugin', timing: true, rotate: { frequency: 'size', maxSizeMb: 1, keep: 2 }, ...over };
}

describe('log files', () => {
  it('rotate by size and keep at most `keep` old files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgeventd-logs-'));
    try {
      const loggers = await createLoggers(config(dir), { console: false, files: true });
      const line = 'x'.repeat(1000);
      for (let i = 0; i < 4000; i++) {
        loggers.engine.info({ i }, line);
        if (i % 500 === 0) await sleep(20); // let the stream write and notice the size
      }
      await sleep(200);
      await loggers.close();
      const engine = readdirSync(dir).filter((f) => f.startsWith('sgeventd.'));
      assert.ok(engine.length >= 2, `rotated into several files: ${engine.join(', ')}`);
      assert.ok(engine.length <= 3, `keeps at most 2 old files beside the current one: ${engine.join(', ')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('write each plugin to its own file, timing lines to the timing log, and never a secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgeventd-logs-'));
    try {
      const loggers = await createLoggers(config(dir, { rotate: { frequency: 'daily', maxSizeMb: 50, keep: 3 } }), { console: false, files: true });
      const plugin = await loggers.plugin('notify');
      plugin.info({ key: 'script-key-value-1234', nested: { password: 'smtp-pw-5678' }, secret: new Secret('token-abcdef-9999') }, 'plugin line');
      loggers.timing?.info({ event: 1, plugin: 'notify', duration_ms: 3 });
      loggers.engine.info('engine line');
      await sleep(100);
      await loggers.close();
      const files = readdirSync(dir);
      const read = (prefix: string): string => files.filter((f) => f.startsWith(prefix)).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
      const pluginLog = read('plugin-notify.');
      assert.match(pluginLog, /plugin line/);
      assert.doesNotMatch(read('sgeventd.') , /plugin line/, 'per-plugin mode keeps plugin records out of the engine file');
      assert.match(read('sgeventd-timing.'), /"duration_ms":3/);
      for (const secret of ['script-key-value-1234', 'smtp-pw-5678', 'token-abcdef-9999']) {
        assert.ok(!files.some((f) => readFileSync(join(dir, f), 'utf8').includes(secret)), `${secret} reached a log file`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
