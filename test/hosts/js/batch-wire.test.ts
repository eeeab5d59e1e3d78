// A batch goes to plugin threads as bytes written once (src/hosts/js/batch-wire.ts):
// a plugin sees exactly what structured clone of the events gave it before
// (Dates, also inside meta.in_create_changes; undefined, -0, NaN, Maps), and
// the same events in the same order are written once for every thread.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deserialize } from 'node:v8';
import { encodeBatch, decodeBatch } from '../../../src/hosts/js/batch-wire.ts';
import type { EventLogEntry } from '../../../src/index.ts';
import { captureLogger, fixtureHost, makeEvent, runAll, within } from './helpers.ts';

/** Events with what JSON would lose: Dates at two depths, undefined, -0, NaN, a Map, one object twice. */
function awkwardEvents(): EventLogEntry[] {
  const shared = { type: 'Project', id: 70 };
  return [
    makeEvent(1, 'Shotgun_Shot_New', null, {
      meta: {
        type: 'new_entity', entity_type: 'Shot', entity_id: 7,
        in_create_changes: [
          { id: 2, attribute_name: 'code', created_at: new Date('2026-01-02T03:04:06.123Z'), meta: { new_value: 'sh010', in_create: true } },
          { id: 3, attribute_name: 'sg_cut_in', created_at: new Date('2026-01-02T03:04:07Z'), meta: { new_value: -0, in_create: true } },
        ],
      },
    }),
    makeEvent(4, 'Shotgun_Shot_Change', 'description', {
      meta: { type: 'attribute_change', old_value: undefined, new_value: Number.NaN, extra: new Map([['k', new Date(0)]]) },
      project: shared,
      entity: { type: 'Shot', id: 8, project: shared } as unknown as EventLogEntry['entity'],
    }),
    makeEvent(5, 'Shotgun_Shot_Change', 'sg_status_list', { created_at: new Date(8.64e15) }),
  ];
}

describe('batch wire', () => {
  it('a plugin thread sees each event as structured clone gives it', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-wire-'));
    const seen = path.join(dir, 'seen.txt');
    await writeFile(seen, '');
    const { logger } = captureLogger();
    const host = fixtureHost('seen-events.mjs', { logger, env: { ...process.env, SEEN_FILE: seen } });
    // Bytes are shared only when the daemon has more than one plugin thread: a second host.
    const other = fixtureHost('seen-events.mjs', { logger, env: { ...process.env, SEEN_FILE: '/dev/null' } });
    t.after(async () => {
      await other.close();
      await host.close();
      await rm(dir, { recursive: true, force: true });
    });
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const events = awkwardEvents();
    const results = await within(runAll(host, events), 20_000, 'batch');
    assert.deepEqual(results.map((r) => r.outcome), ['ok', 'ok', 'ok']);
    const got = (await readFile(seen, 'utf8')).split('\n').filter((l) => l !== '').map((l) => deserialize(Buffer.from(l, 'base64')) as EventLogEntry);
    assert.deepStrictEqual(got, structuredClone(events));
    const inCreate = (got[0]?.meta as { in_create_changes: Array<{ created_at: unknown; meta: { new_value: unknown } }> }).in_create_changes;
    assert.ok(inCreate[0]?.created_at instanceof Date, 'a folded row keeps its Date');
    assert.ok(Object.is(inCreate[1]?.meta.new_value, -0), '-0 stays -0');
    assert.ok('old_value' in (got[1]?.meta ?? {}), 'a key holding undefined is kept');
    assert.equal(got[1]?.project, (got[1]?.entity as unknown as { project: unknown }).project, 'one object twice stays one object');
  });

  it('writes the same events in the same order once, and a different batch anew', () => {
    const events = awkwardEvents();
    const whole = encodeBatch(events);
    assert.ok(whole !== null);
    assert.equal(encodeBatch([...events])?.bytes, whole.bytes, 'another array of the same events reuses the bytes');
    const tail = encodeBatch(events.slice(1));
    assert.equal(tail?.bytes, whole.bytes, 'the tail of a batch (cut short on its budget) reuses the bytes');
    assert.equal(tail.skip, 1);
    assert.deepStrictEqual(decodeBatch(tail.bytes, tail.skip), structuredClone(events.slice(1)));
    assert.notEqual(encodeBatch(events.slice(0, 2))?.bytes, whole.bytes, 'a head of the batch is written anew');
    const reordered = [events[1], events[0], events[2]] as EventLogEntry[];
    const other = encodeBatch(reordered);
    assert.ok(other !== null && other.bytes !== whole.bytes, 'the same last event after others is written anew');
    assert.deepStrictEqual(decodeBatch(other.bytes, other.skip), structuredClone(reordered));
  });

  it('leaves events it cannot write to postMessage, which reports them as before', async (t) => {
    const withFunction = [makeEvent(9, 'Shotgun_Shot_Change', null, { meta: { f: () => 1 } as unknown as EventLogEntry['meta'] })];
    assert.equal(encodeBatch(withFunction), null);
    assert.equal(typeof decodeBatch(new Uint8Array([1, 2, 3])), 'string', 'bytes that are not a batch are refused');
    const { logger } = captureLogger();
    const host = fixtureHost('seen-events.mjs', { logger, env: { ...process.env, SEEN_FILE: '/dev/null' } });
    t.after(() => host.close());
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const [result] = await within(host.processBatch(withFunction), 20_000, 'batch');
    assert.equal(result?.outcome === 'ok' ? 'ok' : result?.error.code, 'PLUGIN_PROTOCOL');
  });
});
