import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { loadConfig, parseConfig, pluginOptionsFor, ConfigValidationError } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/config/index.ts';
import { SgeventdError } from '../../src/shared/index.ts';

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigValidationError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return [...err.issues];
  }
  assert.fail('expected a ConfigValidationError');
}

const minimal = { site: { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: 'k3y-value' } } };

describe('native YAML config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('interpolates ${VAR} and ${VAR:-default}, resolves paths against the file, wraps secrets', async () => {
    const file = join(dir, 'sgeventd.yaml');
    await writeFile(file, [
      'site: { url: "${SITE:-http://127.0.0.1:8090}", script: { name: sgeventd, key: "${SGEVENTD_KEY}" } }',
      'daemon: { state: ./state/x.db, fetchIntervalMs: 250 }',
      'plugins: [ { path: ./plugins, retries: 2, overrides: { noisy: { enabled: false } } } ]',
      'emails: { enabled: true, host: smtp.lan, from: d@lan, to: [a@lan], username: u, password: "${MAIL_PW}" }',
      'toolkit: { pythonPath: [./py], projects: { "176": { mode: distributed, pluginId: basic.shell, engine: tk-shell } } }',
      'http: { host: 0.0.0.0, token: "${HTTP_TOKEN}" }',
      'logging: { dir: "$${literal}" }',
    ].join('\n'));
    const env = { SGEVENTD_KEY: 'the-script-key', MAIL_PW: 'mail-password', HTTP_TOKEN: 'token-123456', SHOTGUN_BASE: '/studio/configs' };
    const c = await loadConfig(file, env);
    assert.equal(c.format, 'yaml');
    assert.equal(c.site.url, 'http://127.0.0.1:8090');
    assert.equal(c.site.script.key.reveal(), 'the-script-key');
    assert.equal(c.emails.password?.reveal(), 'mail-password');
    assert.equal(c.http.token?.reveal(), 'token-123456');
    assert.deepEqual([...c.secretEnvVars].sort(), ['HTTP_TOKEN', 'MAIL_PW', 'SGEVENTD_KEY']);
    assert.equal(c.daemon.state, join(dir, 'state/x.db'));
    assert.equal(c.daemon.pidFile, join(dir, 'state/sgeventd.pid'));
    assert.equal(c.daemon.fetchIntervalMs, 250);
    assert.equal(c.plugins[0]?.path, join(dir, 'plugins'));
    assert.equal(c.logging.dir, join(dir, '${literal}'));
    assert.deepEqual(c.toolkit.pythonPath, [join(dir, 'py')]);
    assert.equal(c.toolkit.configsRoot, '/studio/configs');
    assert.equal(c.toolkit.studioCore, undefined, 'the studio core fallback is opt-in');
    assert.deepEqual(c.toolkit.projects['176'], { mode: 'distributed', pluginId: 'basic.shell', engine: 'tk-shell' });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.daemon) && Object.isFrozen(c.plugins[0]));
    assert.ok(!inspect(c, { depth: 10 }).includes('the-script-key'));
    assert.ok(!JSON.stringify(c).includes('mail-password'));
  });

  it('applies every default', () => {
    const c = parseConfig(minimal, { source: 'test', env: {} });
    assert.equal(c.site.timeoutMs, 60000);
    assert.equal(c.site.maxConnRetries, 5);
    assert.equal(c.site.connRetrySleepMs, 5000);
    assert.equal(c.site.useSessionUuid, false);
    assert.equal(c.daemon.maxEventBatchSize, 500);
    assert.equal(c.daemon.backlogTimeoutMs, 300000);
    assert.equal(c.daemon.callbackTimeoutMs, 600000);
    assert.equal(c.daemon.stateFlushMs, 200);
    assert.equal(c.daemon.stateFlushEvents, 500);
    assert.deepEqual(c.plugins, []);
    assert.equal(c.logging.level, 'info');
    assert.equal(c.logging.mode, 'per-plugin');
    assert.deepEqual(c.logging.rotate, { frequency: 'daily', maxSizeMb: 50, keep: 14 });
    assert.equal(c.emails.enabled, false);
    assert.equal(c.emails.subjectPrefix, '[sgeventd]');
    assert.equal(c.toolkit.python, 'python3');
    assert.equal(c.toolkit.configsRoot, '/mnt/sgtk/configs');
    assert.equal(c.toolkit.maxRuntimes, 8);
    assert.deepEqual(c.toolkit.crashBudget, { count: 3, windowMs: 600000, backoffMs: 300000 });
    assert.equal(c.toolkit.isolation, 'process');
    assert.deepEqual(c.http, { enabled: true, host: '127.0.0.1', port: 9090, historySampleMs: 10000, historyWindowMs: 3600000 });
    assert.equal(c.daemon.logAgeWarnDays, 150);
    assert.equal(c.daemon.logAgeCheckMs, 3600000);
    assert.deepEqual(c.secretEnvVars, []);
  });

  it('reports every problem at once, naming the key, the value and what was expected', () => {
    const issues = issuesOf(() => parseConfig({
      site: { url: 'not a url', script: { name: 'x', key: '${NOPE}' } },
      toolkit: { maxRuntimes: -1, maxRuntime: 3, isolation: 'fork' },
      daemn: {},
      plugins: [{ path: './p', retires: 1 }],
    }, { source: 'test', env: {} }));
    const byKey = new Map(issues.map((i) => [i.key, i]));
    assert.equal(byKey.get('site.script.key')?.variable, 'NOPE');
    assert.equal(byKey.get('toolkit.maxRuntimes')?.value, -1);
    assert.equal(byKey.get('toolkit.maxRuntimes')?.expected, 'a positive integer');
    assert.equal(byKey.get('toolkit.maxRuntimes')?.message, 'toolkit.maxRuntimes must be a positive integer, got -1');
    assert.equal(byKey.get('toolkit.maxRuntime')?.suggestion, 'maxRuntimes');
    assert.equal(byKey.get('daemn')?.suggestion, 'daemon');
    assert.equal(byKey.get('plugins.0.retires')?.suggestion, 'retries');
    assert.equal(byKey.get('toolkit.isolation')?.value, 'fork');
    assert.equal(byKey.get('site.url')?.value, 'not a url');
    // Rules spanning keys are checked even when other keys are wrong.
    const more = issuesOf(() => parseConfig({ ...minimal, daemon: { fetchIntervalMs: -5 }, http: { host: '10.0.0.1' } }, { source: 'test', env: {} }));
    assert.deepEqual(more.map((i) => i.key).sort(), ['daemon.fetchIntervalMs', 'http.token']);
  });

  it('reads interpolated numbers and booleans as such', () => {
    const c = parseConfig({ ...minimal, http: { port: '${PORT}', enabled: '${HTTP_ON:-false}' }, toolkit: { maxRuntimes: '3' } }, { source: 'test', env: { PORT: '9191' } });
    assert.equal(c.http.port, 9191);
    assert.equal(c.http.enabled, false);
    assert.equal(c.toolkit.maxRuntimes, 3);
    const issues = issuesOf(() => parseConfig({ ...minimal, http: { port: '${PORT}' } }, { source: 'test', env: { PORT: 'http' } }));
    assert.deepEqual(issues.map((i) => [i.key, i.value]), [['http.port', 'http']]);
  });

  it('never shows a secret value in an issue', () => {
    const issues = issuesOf(() => parseConfig({ site: { url: 'http://x', script: { name: 'x', key: 12345678 } } }, { source: 'test', env: {} }));
    const key = issues.find((i) => i.key === 'site.script.key');
    assert.ok(key);
    assert.equal(key.value, undefined);
    assert.ok(!key.message.includes('12345678'));
  });

  it('refuses a non-loopback http host without a token, and mail without a server', () => {
    const issues = issuesOf(() => parseConfig({ ...minimal, http: { host: '0.0.0.0' }, emails: { enabled: true } }, { source: 'test', env: {} }));
    assert.deepEqual(issues.map((i) => i.key).sort(), ['emails.from', 'emails.host', 'emails.to', 'http.token']);
    assert.equal(parseConfig({ ...minimal, http: { host: '::1' } }, { source: 'test', env: {} }).http.host, '::1');
  });

  it('resolves plugin options: folder options, then that plugin\'s overrides', () => {
    const c = parseConfig({
      ...minimal,
      daemon: { callbackTimeoutMs: 1234, maxPluginMemoryMb: 512 },
      plugins: [{ path: '/p', retries: 2, projects: { include: [1, 'demo'] }, overrides: { quiet: { enabled: false, retries: 0, maxMemoryMb: 64 } } }],
    }, { source: 'test', env: {} });
    const folder = c.plugins[0];
    assert.ok(folder);
    assert.deepEqual(pluginOptionsFor(folder, 'other'), {
      enabled: true, ignoreOwnEvents: false, retries: 2, retryBackoffMs: 1000, deadLetter: true, callbackTimeoutMs: 1234, maxMemoryMb: 512, projects: { include: [1, 'demo'] },
      coalesceCreation: false, coalesceWindowMs: 1000,
    });
    const quiet = pluginOptionsFor(folder, 'quiet');
    assert.equal(quiet.enabled, false);
    assert.equal(quiet.retries, 0);
    assert.equal(quiet.callbackTimeoutMs, 1234);
    assert.equal(quiet.maxMemoryMb, 64);
  });

  it('fails with coded errors on a missing file and on broken YAML', async () => {
    await assert.rejects(loadConfig(join(dir, 'missing.yaml'), {}), (e: unknown) => e instanceof SgeventdError && e.code === 'CONFIG_NOT_FOUND');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'site: { url: [\n');
    await assert.rejects(loadConfig(bad, {}), (e: unknown) => e instanceof SgeventdError && e.code === 'CONFIG_SYNTAX');
  });
});
