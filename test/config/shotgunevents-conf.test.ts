import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigValidationError } from '../../src/config/index.ts';
import { SgeventdError } from '../../src/shared/index.ts';

const FIXTURE = new URL('../fixtures/config/shotgunEventDaemon.conf', import.meta.url);

describe('shotgunEvents conf', () => {
  let dir: string;
  const env = () => ({
    PATH: process.env.PATH,
    HOME: '/home/pipeline',
    SGE_ROOT: '/srv/sge',
    SG_ED_SITE_URL: 'https://studio.shotgrid.autodesk.com',
    SG_ED_SCRIPT_NAME: 'eventDaemon',
    SG_ED_API_KEY: 'abcdef0123456789',
    SG_ED_EMAIL_USERNAME: 'mailer',
    SG_ED_EMAIL_PASSWORD: 'mail-secret',
  });
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-conf-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads every key through Python ConfigParser with the environment as defaults', async () => {
    const file = join(dir, 'shotgunEventDaemon.conf');
    await copyFile(FIXTURE, file);
    const c = await loadConfig(file, env());
    assert.equal(c.format, 'shotgunevents');
    assert.equal(c.site.url, 'https://studio.shotgrid.autodesk.com');
    assert.equal(c.site.script.name, 'eventDaemon');
    assert.equal(c.site.script.key.reveal(), 'abcdef0123456789');
    assert.equal(c.site.proxy, 'proxy.studio.lan:8080');
    assert.equal(c.site.useSessionUuid, true);
    assert.equal(c.site.maxConnRetries, 7);
    assert.equal(c.site.connRetrySleepMs, 60000);
    assert.equal(c.daemon.fetchIntervalMs, 5000);
    assert.equal(c.daemon.maxEventBatchSize, 250);
    assert.equal(c.daemon.pidFile, '/srv/sge/run/shotgunEventDaemon.pid');
    assert.equal(c.daemon.state, '/srv/sge/run/sgeventd.db');
    assert.equal(c.legacy?.eventIdFile, '/srv/sge/run/shotgunEventDaemon.id');
    assert.deepEqual(c.legacy?.pluginPaths, ['/srv/sge/plugins', '/home/pipeline/more-plugins', 'relative/plugins']);
    assert.deepEqual(c.plugins.map((p) => p.path), ['/srv/sge/plugins', '/home/pipeline/more-plugins', join(dir, 'relative/plugins')]);
    assert.equal(c.logging.mode, 'single');
    assert.equal(c.logging.dir, '/srv/sge/logs');
    assert.equal(c.logging.file, 'shotgunEventDaemon');
    assert.equal(c.logging.level, 'debug');
    assert.equal(c.logging.timing, true);
    assert.equal(c.emails.enabled, true);
    assert.equal(c.emails.host, 'smtp.studio.lan');
    assert.equal(c.emails.port, 587);
    assert.equal(c.emails.starttls, true);
    assert.equal(c.emails.username, 'mailer');
    assert.equal(c.emails.password?.reveal(), 'mail-secret');
    assert.equal(c.emails.from, 'support@studio.lan');
    assert.deepEqual(c.emails.to, ['a@studio.lan', 'b@studio.lan']);
    assert.equal(c.emails.subjectPrefix, '[SG]');
    assert.deepEqual([...c.secretEnvVars].sort(), ['SG_ED_API_KEY', 'SG_ED_EMAIL_PASSWORD']);
    assert.deepEqual(c.warnings, []);
  });

  it('names the section and key of every bad value', async () => {
    const file = join(dir, 'bad.conf');
    await writeFile(file, [
      '[daemon]', 'eventIdFile: /tmp/x.id', 'fetch_interval = soon', 'logMode: 3', 'typo_key: 1',
      '[shotgun]', 'server: %(SG_ED_SITE_URL)s', 'name: n', 'key: %(MISSING_VAR)s', 'use_session_uuid: maybe',
      '[plugins]', 'paths: /p',
    ].join('\n'));
    await assert.rejects(loadConfig(file, env()), (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      const keys = e.issues.map((i) => i.key).sort();
      assert.deepEqual(keys, ['[daemon] fetch_interval', '[daemon] logMode', '[shotgun] key', '[shotgun] use_session_uuid']);
      assert.equal(e.issues.find((i) => i.key === '[daemon] fetch_interval')?.value, 'soon');
      return true;
    });
  });

  it('never quotes a secret in an interpolation error', async () => {
    const file = join(dir, 'percent.conf');
    await writeFile(file, '[shotgun]\nserver: http://x\nname: n\nkey: s3cr%t-value\n[plugins]\npaths: /p\n');
    await assert.rejects(loadConfig(file, env()), (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      assert.deepEqual(e.issues.map((i) => i.key), ['[shotgun] key']);
      assert.ok(!e.message.includes('s3cr') && !JSON.stringify(e.issues).includes('s3cr'));
      return true;
    });
  });

  it('maps native validation issues back to the INI key', async () => {
    const file = join(dir, 'batch.conf');
    await writeFile(file, '[daemon]\nmax_event_batch_size = 0\n[shotgun]\nserver: ftp://x\nname: n\nkey: k\n[plugins]\npaths: /p\n');
    await assert.rejects(loadConfig(file, env()), (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      assert.deepEqual(e.issues.map((i) => i.key).sort(), ['[daemon] max_event_batch_size', '[shotgun] server']);
      return true;
    });
  });

  it('keeps unknown keys as warnings and reports a missing conf or python with codes', async () => {
    const file = join(dir, 'extra.conf');
    await writeFile(file, '[shotgun]\nserver: http://x\nname: n\nkey: k\nfoo: 1\n[plugins]\npaths: /p\n[custom]\na: 1\n');
    const c = await loadConfig(file, env());
    assert.equal(c.warnings.length, 2);
    await assert.rejects(loadConfig(join(dir, 'none.conf'), env()), (e: unknown) => e instanceof SgeventdError && e.code === 'CONFIG_NOT_FOUND');
    await assert.rejects(loadConfig(file, { ...env(), SGEVENTD_PYTHON: join(dir, 'no-such-python') }),
      (e: unknown) => e instanceof SgeventdError && e.code === 'CONFIG_PYTHON_FAILED');
  });

  it('an [sgeventd] section sets native keys by their dotted names (any case), lists comma-separated, secrets from the environment', async () => {
    const file = join(dir, 'native.conf');
    await writeFile(file, [
      '[shotgun]', 'server: http://x', 'name: n', 'key: k',
      '[daemon]', 'eventIdFile: /srv/b/shotgunEventDaemon.id', 'fetch_interval = 2',
      '[plugins]', 'paths: /p',
      '[sgeventd]', 'http.port = 9091', 'http.host = 127.0.0.2', 'http.token = %(STATUS_TOKEN)s',
      'daemon.state = /srv/b/site-b.db', 'daemon.callbackTimeoutMs = 120000', 'daemon.restartBudget.count = 9',
      'toolkit.pythonPath = /opt/a, /opt/b',
    ].join('\n'));
    const c = await loadConfig(file, { ...env(), STATUS_TOKEN: 'status-secret' });
    assert.equal(c.http.port, 9091);
    assert.equal(c.http.host, '127.0.0.2');
    assert.equal(c.http.token?.reveal(), 'status-secret');
    assert.equal(c.daemon.state, '/srv/b/site-b.db');
    assert.equal(c.daemon.callbackTimeoutMs, 120000);
    assert.equal(c.daemon.restartBudget.count, 9);
    assert.equal(c.daemon.fetchIntervalMs, 2000, 'shotgunEvents keys still apply');
    assert.deepEqual(c.toolkit.pythonPath, ['/opt/a', '/opt/b']);
    assert.ok(c.secretEnvVars.includes('STATUS_TOKEN'), 'the token variable is a secret');
    assert.deepEqual(c.warnings, [], 'the section is not reported as unknown');
  });

  it('an [sgeventd] key that is not native, is a mapping, is set twice, or has a bad value is named with what was expected', async () => {
    const file = join(dir, 'native-bad.conf');
    await writeFile(file, [
      '[shotgun]', 'server: http://x', 'name: n', 'key: k',
      '[daemon]', 'fetch_interval = 2',
      '[plugins]', 'paths: /p',
      '[sgeventd]', 'http.prot = 9091', 'toolkit.projects = x', 'daemon.fetchIntervalMs = 3000', 'http.port = high',
    ].join('\n'));
    await assert.rejects(loadConfig(file, env()), (e: unknown) => {
      assert.ok(e instanceof ConfigValidationError);
      const byKey = new Map(e.issues.map((i) => [i.key, i.message]));
      assert.deepEqual([...byKey.keys()].sort(), ['[sgeventd] daemon.fetchintervalms', '[sgeventd] http.port', '[sgeventd] http.prot', '[sgeventd] toolkit.projects']);
      assert.match(byKey.get('[sgeventd] http.prot')!, /not a native key/);
      assert.match(byKey.get('[sgeventd] toolkit.projects')!, /mapping/);
      assert.match(byKey.get('[sgeventd] daemon.fetchintervalms')!, /\[daemon\] fetch_interval already sets/);
      assert.match(byKey.get('[sgeventd] http.port')!, /port number/);
      return true;
    });
  });
});
