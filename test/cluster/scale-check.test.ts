// `sgeventd check` with a cluster section says, per plugin, whether it is
// spread over the nodes (lanes by project or entity) or runs on one node at a
// time (by: none: one order over all events).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli/run-cli.ts';
import { makeHarness } from '../dispatch/harness.ts';
import { writeYaml, childEnv } from '../dispatch/child.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cluster/', import.meta.url));

describe('sgeventd check in cluster mode', () => {
  it('names spread plugins and those that stay on one node', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    for (const p of ['serial', 'keyed', 'entity']) await copyFile(join(FIXTURES, `${p}.mjs`), join(h.plugins, `${p}.mjs`));
    const yaml = await writeYaml(h, {}, {}, { cluster: { name: 'c', nats: { servers: ['nats://127.0.0.1:4222'] }, partitions: 16 } });
    const r = await runCli(['check', '-c', yaml, '--no-toolkit'], childEnv(h));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok +plugin serial: .*concurrency: none; cluster: runs on one node at a time \(high availability only/m);
    assert.match(r.stdout, /^ok +plugin keyed: .*concurrency: by project, max 4; cluster: spread over the nodes \(16 partitions/m);
    assert.match(r.stdout, /^ok +plugin entity: .*concurrency: by entity, max 4; cluster: spread over the nodes/m);
  });
});
