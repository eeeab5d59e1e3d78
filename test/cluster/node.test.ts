// `sgeventd cluster status`: what it refuses (coded errors), and what a running
// node reports (the failover tests drive it against live nodes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { daemonBed, runCli, withSite } from '../support/index.ts';

describe('sgeventd cluster status', () => {
  it('refuses a config without a cluster section: CLUSTER_NOT_CONFIGURED', async (t) => {
    const bed = daemonBed(t, await withSite(t));
    const file = bed.writeYaml();
    const r = await runCli(['cluster', 'status', '-c', file], bed.childEnv());
    assert.notEqual(r.code, 0);
    assert.equal(r.errorCode, 'CLUSTER_NOT_CONFIGURED');
  });

  it('says so when no node runs with the config: DAEMON_NOT_RUNNING', async (t) => {
    const bed = daemonBed(t, await withSite(t));
    const file = bed.writeYaml({}, {}, { cluster: { name: 't', nats: { servers: ['nats://127.0.0.1:9'] }, replicas: 1 } });
    const r = await runCli(['cluster', 'status', '-c', file], bed.childEnv());
    assert.notEqual(r.code, 0);
    assert.equal(r.errorCode, 'DAEMON_NOT_RUNNING');
  });
});
