import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigValidationError, parseConfig } from '../../src/config/index.ts';
import { Secret } from '../../src/shared/index.ts';

const MINIMAL = { site: { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: 'k' } } };

function invalid(cluster: unknown): ConfigValidationError {
  try {
    parseConfig({ ...MINIMAL, cluster }, { source: 'cluster-test', env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigValidationError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err;
  }
  assert.fail('the config was accepted');
}

describe('config: the cluster section', () => {
  it('is absent by default: one machine', () => {
    assert.equal(parseConfig(MINIMAL, { source: 'cluster-test', env: {} }).cluster, undefined);
  });

  it('gets its defaults from the schema; paths made absolute; the password a Secret', () => {
    const config = parseConfig({
      ...MINIMAL,
      cluster: { name: 'prod', nats: { servers: ['nats://a:4222'], credentials: 'nats.creds', user: 'u', password: '${PW}' } },
    }, { source: '/etc/sgeventd/sgeventd.yaml', env: { PW: 'pw-value' } });
    const c = config.cluster;
    assert.ok(c !== undefined);
    assert.deepEqual(c.lease, { ttlMs: 15000, renewMs: 2000, checkMs: 3000, marginMs: 2000 });
    assert.equal(c.replicas, 3);
    assert.equal(c.partitions, 32);
    assert.equal(c.nats.credentials, '/etc/sgeventd/nats.creds');
    assert.ok(c.nats.password instanceof Secret);
    assert.equal(c.nats.password.reveal(), 'pw-value');
    assert.ok(c.nodeId.length > 0);
    assert.ok(config.secretEnvVars.includes('PW'), 'the password\'s variable is kept from child processes');
  });

  it('names the key and what was expected; never prints the password', () => {
    const err = invalid({ name: 'a.b', nats: { servers: ['http://x'], password: 987654 }, lease: { ttlMs: 3000, renewMs: 2000, marginMs: 2000 } });
    const keys = err.issues.map((i) => i.key);
    for (const key of ['cluster.name', 'cluster.nats.servers.0', 'cluster.nats.password', 'cluster.lease']) assert.ok(keys.includes(key), `${key} in ${keys.join(', ')}`);
    assert.ok(!err.message.includes('987654'));
    assert.deepEqual(invalid({ name: 'x', nats: { servers: [] } }).issues.map((i) => i.key), ['cluster.nats.servers']);
  });
});
