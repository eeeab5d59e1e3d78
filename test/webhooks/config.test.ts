import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigValidationError, daemonSecrets, parseConfig } from '../../src/config/index.ts';
import { runCli, tempDir, withSite, daemonBed } from '../support/index.ts';

const SITE = { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'k' } };

function issues(fn: () => unknown): ConfigValidationError['issues'] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigValidationError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.issues;
  }
  assert.fail('the config was accepted');
}

describe('webhooks config', () => {
  it('defaults come from the schema; secrets are Secrets, masked, and their variables kept from plugins', () => {
    const config = parseConfig({ site: SITE, webhooks: { secrets: ['${SG_WEBHOOK_SECRET}', 'older-secret'], expect: ['Shot:create|update', 'Asset:delete'] } },
      { source: 'test', env: { SG_WEBHOOK_SECRET: 'current-secret' } });
    const w = config.webhooks;
    assert.ok(w !== undefined);
    assert.equal(w.host, '127.0.0.1');
    assert.equal(w.path, '/webhooks/shotgrid');
    assert.equal(w.fallbackPollMs, 5000);
    assert.deepEqual(w.expect, [{ entityType: 'Shot', operations: ['create', 'update'] }, { entityType: 'Asset', operations: ['delete'] }]);
    assert.equal(w.secrets[0]?.reveal(), 'current-secret');
    assert.notEqual(String(w.secrets[0]), 'current-secret');
    assert.ok(!JSON.stringify(config).includes('current-secret'), 'a secret never prints');
    assert.ok(daemonSecrets(config).includes('current-secret') && daemonSecrets(config).includes('older-secret'), 'masked by value');
    assert.ok(config.secretEnvVars.includes('SG_WEBHOOK_SECRET'));
    assert.equal(parseConfig({ site: SITE }, { source: 'test' }).webhooks, undefined, 'absent: no receiver');
  });

  it('a non-loopback listener without a secret is refused, naming webhooks.secrets', () => {
    const found = issues(() => parseConfig({ site: SITE, webhooks: { host: '0.0.0.0' } }, { source: 'test' }));
    assert.deepEqual(found.map((i) => i.key), ['webhooks.secrets']);
    assert.doesNotThrow(() => parseConfig({ site: SITE, webhooks: { host: '0.0.0.0', secrets: ['s3cret'] } }, { source: 'test' }));
  });

  it('bad values name the key and what was expected; a secret value is never echoed', () => {
    const found = issues(() => parseConfig({
      site: SITE,
      webhooks: { path: 'no-slash', fallbackPollMs: 5, expect: ['Shot:explode'], secrets: [''], silentAfterMs: 'soon' },
    }, { source: 'test' }));
    const keys = found.map((i) => i.key).sort();
    assert.deepEqual(keys, ['webhooks.expect.0', 'webhooks.fallbackPollMs', 'webhooks.path', 'webhooks.secrets.0', 'webhooks.silentAfterMs']);
    const secretIssue = found.find((i) => i.key === 'webhooks.secrets.0');
    assert.ok(secretIssue !== undefined && !('value' in secretIssue));
  });

  it('sgeventd check validates and prints the receiver', { timeout: 120_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    const file = bed.writeYaml({}, {}, { webhooks: { port: 0, secrets: ['${SG_WEBHOOK_SECRET}'], fallbackPollMs: 4000, expect: ['Shot:update'] } });
    const env = { ...bed.childEnv(), SG_WEBHOOK_SECRET: 'printed-never-7a' };
    const ok = await runCli(['check', '-c', file, '--no-toolkit'], env);
    assert.equal(ok.code, 0, ok.stderr);
    const line = ok.stdout.split('\n').find((l) => l.includes('webhooks:'));
    assert.ok(line?.includes('/webhooks/shotgrid') && line.includes('1 secret(s)') && line.includes('4000 ms') && line.includes('Shot:update'), ok.stdout);
    assert.ok(!ok.stdout.includes('printed-never-7a') && !ok.stderr.includes('printed-never-7a'));

    const dir = tempDir(t);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `site: { url: ${site.url}, script: { name: sgeventd, key: k } }\nwebhooks: { host: 0.0.0.0 }\n`);
    const refused = await runCli(['check', '-c', bad, '--no-toolkit'], env);
    assert.notEqual(refused.code, 0);
    assert.equal(refused.errorCode, 'CONFIG_INVALID');
  });
});
