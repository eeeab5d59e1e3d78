import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { openSqliteState, pluginId } from '../../src/state/index.ts';
import type { SqliteStateStore } from '../../src/state/index.ts';
import { runCli } from '../support/index.ts';

const listed = z.array(z.object({ id: z.number(), pluginId: z.string(), eventId: z.number(), status: z.enum(['dead', 'retry']) }));

describe('sgeventd dlq', () => {
  let dir: string;
  let config: string;
  let daemon: SqliteStateStore;
  const env = () => ({ PATH: process.env.PATH, SGEVENTD_KEY: 'key-for-tests' });
  const a = pluginId({ folder: '/srv/plugins', name: 'notify' });
  const b = pluginId({ folder: '/srv/plugins', name: 'publish' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sgeventd-dlq-'));
    config = join(dir, 'sgeventd.yaml');
    await writeFile(config, 'site: { url: "http://127.0.0.1:8090", script: { name: sgeventd, key: "${SGEVENTD_KEY}" } }\ndaemon: { state: ./state/sgeventd.db }\n');
    // Held open for the whole test, as a running daemon holds it.
    daemon = await openSqliteState(join(dir, 'state', 'sgeventd.db'));
    const dl = (pluginId: string, eventId: number, error: string) => ({ pluginId, callback: 'onChange', eventId, event: { id: eventId }, error, attempts: 3 });
    await daemon.commit({
      plugins: [
        { id: a, folder: '/srv/plugins', name: 'notify', lastEventId: 50, active: true, lastError: null },
        { id: b, folder: '/srv/plugins', name: 'publish', lastEventId: 50, active: true, lastError: null },
      ],
      deadLetters: [dl(a, 10, 'SMTPError: 421\ntraceback line'), dl(a, 11, 'SMTPError: 421'), dl(b, 12, 'KeyError: path')],
    });
  });
  after(async () => {
    await daemon.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists dead letters as a table and as JSON', async () => {
    const table = await runCli(['dlq', 'ls', '-c', config], env());
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.deepEqual(lines[0]?.split(/\s+/), ['ID', 'PLUGIN', 'CALLBACK', 'EVENT', 'ATTEMPTS', 'STATUS', 'ERROR']);
    assert.equal(lines.length, 4);
    assert.deepEqual(lines[1]?.split(/\s+/).slice(0, 6), ['1', 'notify', 'onChange', '10', '3', 'dead']);

    const json = await runCli(['dlq', 'ls', '-c', config, '--json', '--plugin', 'publish'], env());
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(listed.parse(JSON.parse(json.stdout)).map((d) => [d.pluginId, d.eventId]), [[b, 12]]);
  });

  it('marks for retry and drops, while the daemon holds the state open', async () => {
    const retry = await runCli(['dlq', 'retry', '-c', config, '1', '3'], env());
    assert.equal(retry.code, 0, retry.stderr);
    assert.deepEqual((await daemon.deadLetters.list({ status: 'retry' })).map((d) => d.eventId), [10, 12]);
    assert.deepEqual((await daemon.deadLetters.takeRetries(a, 10)).map((d) => d.eventId), [10]);

    const drop = await runCli(['dlq', 'drop', '-c', config, '--plugin', 'notify', '--all'], env());
    assert.equal(drop.code, 0, drop.stderr);
    assert.deepEqual((await daemon.deadLetters.list()).map((d) => d.eventId), [12]);
  });

  it('refuses unclear requests with coded errors', async () => {
    const noIds = await runCli(['dlq', 'retry', '-c', config], env());
    assert.equal(noIds.code, 1);
    assert.equal(noIds.errorCode, 'DLQ_USAGE');
    const unknown = await runCli(['dlq', 'drop', '-c', config, '--plugin', 'nope', '--all'], env());
    assert.equal(unknown.errorCode, 'DLQ_UNKNOWN_PLUGIN');
    const other = join(dir, 'other.yaml');
    await writeFile(other, 'site: { url: "http://127.0.0.1:8090", script: { name: s, key: k } }\ndaemon: { state: ./nowhere/state.db }\n');
    const missing = await runCli(['dlq', 'ls', '-c', other], env());
    assert.equal(missing.errorCode, 'DLQ_NO_STATE');
    assert.deepEqual((await daemon.deadLetters.list()).map((d) => d.eventId), [12]);
  });
});
