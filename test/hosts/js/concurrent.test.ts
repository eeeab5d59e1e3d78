import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { captureLogger, fixtureHost } from './helpers.ts';
import { waitFor } from '../../support/memory-source.ts';
import { concurrentBed } from '../../support/scripted-cursor.ts';
import type { WorkerPluginHost } from '../../../src/hosts/index.ts';

const PLUGIN = new URL('./fixtures/lanes-plugin.mjs', import.meta.url).pathname;

async function out(t: TestContext, env: Record<string, string>): Promise<{ file: string; lines(): Promise<string[][]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-lanes-'));
  const file = join(dir, 'out.txt');
  const saved = { ...process.env };
  Object.assign(process.env, { LANES_OUT: file, ...env });
  t.after(async () => {
    for (const k of ['LANES_OUT', 'LANES_WANT', 'LANES_STOP_ON_ERROR']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await rm(dir, { recursive: true, force: true });
  });
  return { file, lines: async () => (existsSync(file) ? (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')) : []) };
}

function lanesHost(t: TestContext, extra: Parameters<typeof fixtureHost>[1] extends infer O ? Partial<O> : never = {}): WorkerPluginHost {
  const { logger } = captureLogger('warn');
  const host = fixtureHost(PLUGIN, { logger, ...extra });
  t.after(() => host.close());
  return host;
}

describe('WorkerPluginHost: concurrent lanes', () => {
  it('takes the concurrency the file declares, and the config over it', async (t) => {
    await out(t, {});
    const declared = lanesHost(t);
    const a = await declared.load();
    assert.ok(a.ok);
    assert.deepEqual(a.concurrency, { by: 'project', max: 4 });
    assert.equal(declared.capacity, 4);
    const configured = lanesHost(t, { concurrency: { by: 'none', max: 1 } });
    const b = await configured.load();
    assert.ok(b.ok);
    assert.deepEqual(b.concurrency, { by: 'none', max: 1 });
    assert.equal(configured.capacity, 1);
  });

  it('runs events of different projects at once in the thread, each project in order', async (t) => {
    const o = await out(t, { LANES_WANT: '4' });
    const host = lanesHost(t);
    assert.ok((await host.load()).ok);
    const bed = await concurrentBed(t, (id) => 1 + (id % 4));
    bed.source.inner.append(40);
    bed.cursor(host, { max: host.capacity });
    await waitFor(async () => (await o.lines()).length === 40, 'every event', 30_000);
    const lines = await o.lines();
    assert.equal(Math.max(...lines.map((l) => Number(l[2]))), 4, 'four callbacks in flight at once');
    const byProject = new Map<string, number[]>();
    for (const l of lines) byProject.set(l[1]!, [...(byProject.get(l[1]!) ?? []), Number(l[0])]);
    for (const [p, ids] of byProject) assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `order of project ${p}`);
  });

  it('a hanging callback times out alone: the other lanes go on, the events cut off with the thread are delivered again and not counted failed', async (t) => {
    const o = await out(t, { LANES_WANT: '1', LANES_STOP_ON_ERROR: '0' });
    const host = lanesHost(t, { callbackTimeoutMs: 1500 });
    assert.ok((await host.load()).ok);
    const HUNG = 5;
    const bed = await concurrentBed(t, (id) => 1 + (id % 4));
    bed.source.inner.append(60);
    const source = bed.source;
    // The hung event: its type says so (the memory source's events are Shot changes).
    const readIds = source.readIds.bind(source);
    const readAfter = source.readAfter.bind(source);
    const mark = (events: Awaited<ReturnType<typeof readAfter>>) => events.map((e) => (e.id === HUNG ? { ...e, event_type: 'Hang' } : e));
    source.readAfter = async (...a) => mark(await readAfter(...a));
    source.readIds = async (...a) => mark(await readIds(...a));
    const cursor = bed.cursor(host, { max: host.capacity });
    await waitFor(async () => new Set((await o.lines()).map((l) => l[0])).size === 59, 'every other event', 60_000);
    await waitFor(() => bed.failures.length === 1, 'the hung event skipped');
    assert.equal(bed.failures[0]?.eventId, HUNG);
    assert.equal(bed.failures[0]?.error.code, 'PLUGIN_CALLBACK_TIMEOUT');
    assert.equal(cursor.counters.failed, 1, 'only the hung event counts as failed');
    assert.deepEqual((await bed.store.deadLetters.list()).map((l) => l.eventId), [HUNG]);
    await waitFor(async () => (await bed.stored())?.backlog.length === 0, 'nothing pending');
  });
});
