import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatRuntimeTable } from '../../src/cli/toolkit.ts';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import { runtimePoolOptions, type RuntimePoolOptions } from '../../src/toolkit/options.ts';
import { writeConfig, writeStudio, type FakeStudio } from '../fixtures/toolkit/fake-cores.ts';
import type { ToolkitLogger } from '../../src/toolkit/log.ts';
import { FIXTURES, PYTHON, alive, memoryLogger, rejectsWith, tempDir, waitFor } from './helpers.ts';

describe('RuntimePool: several runtimes per project', () => {
  const tmp = tempDir();
  let studio: FakeStudio;
  const pools: RuntimePool[] = [];
  let n = 0;

  before(() => {
    studio = writeStudio(tmp.dir);
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    tmp.cleanup();
  });

  function pool(over: Partial<RuntimePoolOptions> = {}, env: Record<string, string> = {}, logger?: ToolkitLogger): RuntimePool {
    const p = new RuntimePool(runtimePoolOptions({
      python: PYTHON,
      studioCore: studio.studioCore,
      pythonPath: [path.join(FIXTURES, 'studio_py')],
      callTimeoutMs: 60_000,
      projects: { 70: { mode: 'centralized', path: studio.alpha }, 71: { mode: 'centralized', path: studio.beta }, gamma: { mode: 'centralized', path: studio.gamma } },
      ...over,
    }), {
      site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('pool-test-key-123') },
      stateDir: path.join(tmp.dir, 'state'),
      env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir, ...env },
      initTimeoutMs: 20_000,
      stopTimeoutMs: 2000,
      logger,
    });
    pools.push(p);
    return p;
  }

  /** A file whose existence lets `hold` calls return. */
  function release(): { file: string; record: string; go: () => void; lines: () => string[][] } {
    n += 1;
    const file = path.join(tmp.dir, `release-${n}`);
    const record = path.join(tmp.dir, `record-${n}.txt`);
    return {
      file, record,
      go: () => writeFileSync(file, ''),
      lines: () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : []),
    };
  }

  const hold = (p: RuntimePool, project: number, r: { file: string; record: string }, tag: string, signal?: AbortSignal): Promise<number> =>
    p.forProject(project, { signal }).run('hold_hooks:hold', { release: r.file, record: r.record, tag }) as Promise<number>;

  it('serves a project\'s other calls from a second runtime while one call hangs, and lists both runtimes', async () => {
    const p = pool();
    const r = release();
    let hungSettled = false;
    const hung = hold(p, 70, r, 'hung').finally(() => { hungSettled = true; });
    await waitFor(() => r.lines().some((l) => l[0] === 'start'), 20_000, 'the hung call to start');
    const hungPid = Number(r.lines()[0]?.[2]);
    const others = new Set<number>();
    for (let i = 0; i < 5; i += 1) others.add(await p.forProject(70).run('hold_hooks:pid') as number);
    assert.equal(hungSettled, false, 'the other calls finished while the hung call still hangs');
    assert.equal(others.size, 1, 'one spare runtime served them all');
    assert.ok(!others.has(hungPid), 'no call went to the runtime busy with the hung call');
    const rows = p.list().filter((x) => x.projects.includes(70));
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((x) => x.key.slice(x.key.lastIndexOf('#'))).sort(), ['#1', '#2'], 'each runtime has its own name');
    assert.deepEqual(rows.map((x) => x.state).sort(), ['busy', 'ready']);
    assert.equal(new Set(rows.map((x) => x.key.slice(0, x.key.lastIndexOf('#')))).size, 1, 'both belong to the same key');
    // `sgeventd toolkit ps`: a line each, told apart by RUNTIME.
    const table = formatRuntimeTable(p.list()).trim().split('\n').map((l) => l.split('\t'));
    const col = table[0]?.indexOf('RUNTIME') ?? -1;
    assert.ok(col > 0);
    assert.deepEqual(table.slice(1).filter((l) => l[0] === '70').map((l) => l[col]).sort(), ['1', '2']);
    r.go();
    assert.equal(await hung, hungPid);
  });

  it('never runs more than maxRuntimesPerProject runtimes of a project; other projects are not held', async () => {
    const p = pool({ maxRuntimesPerProject: 3 });
    const r = release();
    const calls = Array.from({ length: 7 }, (_, i) => hold(p, 70, r, `c${i}`));
    await waitFor(() => r.lines().filter((l) => l[0] === 'start').length === 3, 20_000, 'three calls to start');
    assert.equal(p.list().filter((x) => x.projects.includes(70)).length, 3);
    // Another project is served at once, even with every runtime of project 70 busy.
    const other = await p.forProject(71).run('hold_hooks:pid') as number;
    assert.ok(alive(other));
    assert.equal(r.lines().filter((l) => l[0] === 'start').length, 3, 'the four other calls still wait');
    r.go();
    const pids = await Promise.all(calls);
    assert.equal(new Set(pids).size, 3, 'seven calls ran on three runtimes');
    assert.equal(p.list().filter((x) => x.projects.includes(70)).length, 3);
    // On one runtime, calls never overlap: each start is followed by its own end.
    const byPid = new Map<string, string[]>();
    for (const l of r.lines()) byPid.set(l[2] ?? '', [...(byPid.get(l[2] ?? '') ?? []), `${l[0] ?? ''} ${l[1] ?? ''}`]);
    for (const seq of byPid.values()) {
      for (let i = 0; i < seq.length; i += 2) assert.equal(seq[i]?.replace('start', 'end'), seq[i + 1], `serial per runtime: ${seq.join(', ')}`);
    }
  });

  it('does not count the time a call waits for a runtime against its callTimeoutMs', async () => {
    const r = release();
    const p = pool({ maxRuntimesPerProject: 1, callTimeoutMs: 1000 }, { SGEVENTD_TEST_RECORD: r.record, SGEVENTD_TEST_RELEASE: r.file });
    // A Python Toolkit plugin's event holds the one runtime; it is bounded by its own callbackTimeoutMs.
    const spec = {
      file: path.join(FIXTURES, 'plugins', 'tk_hold.py'), name: 'tk_hold', siteUrl: 'http://127.0.0.1:9', proxy: null,
      useSessionUuid: false, generation: 1, callbackTimeoutMs: 60_000,
    };
    const event = { type: 'EventLogEntry', id: 1, event_type: 'Shotgun_Shot_New', entity: { type: 'Shot', id: 5, name: 'hang1' }, meta: {}, project: { type: 'Project', id: 70 } };
    const held = p.pluginProcess(70, spec, [event], undefined, () => undefined);
    await waitFor(() => r.lines().some((l) => l[1] === 'start'), 20_000, 'the plugin event to start');
    let queuedSettled = false;
    const queuedAt = Date.now();
    const queued = p.forProject(70).run('hold_hooks:pid').finally(() => { queuedSettled = true; });
    await waitFor(() => Date.now() - queuedAt > 1500, 5_000, 'the queued call to wait past callTimeoutMs');
    assert.equal(queuedSettled, false, 'still waiting for the runtime');
    r.go();
    await held;
    assert.equal(typeof await queued, 'number', 'a call that waited past callTimeoutMs still runs: its own run is short');
    // Its own run is bounded, though.
    await rejectsWith(hold(p, 70, release(), 'own-run'), 'TK_CALL_TIMEOUT');
  });

  it('with every runtime of the pool busy, a call of another project waits for one to free up instead of failing', async () => {
    const p = pool({ maxRuntimes: 2 });
    const r = release();
    const held = [hold(p, 70, r, 'a'), hold(p, 71, r, 'b')];
    await waitFor(() => r.lines().filter((l) => l[0] === 'start').length === 2, 20_000, 'two calls to hold the pool');
    let settled = false;
    const third = p.forProject({ id: 72, tank_name: 'gamma' }).run('hold_hooks:pid').finally(() => { settled = true; });
    // The third project's call is queued behind a full pool: none of its runtimes exists yet.
    await waitFor(() => p.list().length === 2 && !settled, 5_000, 'the call to wait');
    r.go();
    const [a, b] = await Promise.all(held);
    const c = await third as number;
    assert.ok(c !== a && c !== b, 'a runtime of its own, started once another went idle');
    assert.ok(p.list().length <= 2, 'within maxRuntimes');
  });

  it('a configuration whose runtimes cannot start fails every waiting call, without starting runtime after runtime', async () => {
    const crashy = writeConfig(path.join(tmp.dir, 'configs', 'crashy-many'), { core: { localized: { version: 'v0-crashy', api3Version: '0.0.0', init: 'crash' } } });
    const logger = memoryLogger();
    const p = pool({ maxRuntimesPerProject: 3, projects: { 79: { mode: 'centralized', path: crashy } }, crashBudget: { count: 2, windowMs: 60_000, backoffMs: 60_000 } }, {}, logger);
    const calls = Array.from({ length: 5 }, () => p.forProject(79).run('hold_hooks:pid').then(() => 'ok', (e: unknown) => (e as { code?: string }).code));
    const codes = await Promise.all(calls);
    assert.ok(codes.every((c) => c === 'TK_INIT_FAILED' || c === 'TK_RUNTIME_FAILED'), codes.join(','));
    // The starts already under way for that wave end too; then the key fails fast.
    await waitFor(() => p.list().length > 0 && p.list().every((r) => r.state === 'failed'), 20_000, 'the key to fail fast');
    const starts = logger.lines.filter((l) => l.msg.startsWith('toolkit: runtime crashed')).length;
    assert.ok(starts >= 2 && starts <= 3, `at most maxRuntimesPerProject starts for one wave of calls, got ${starts}`);
    await rejectsWith(p.forProject(79).run('hold_hooks:pid'), 'TK_RUNTIME_FAILED');
  });

  it('drops a waiting call when its caller gives up, without touching the busy runtime', async () => {
    const p = pool({ maxRuntimesPerProject: 1 });
    const r = release();
    const first = hold(p, 70, r, 'first');
    await waitFor(() => r.lines().some((l) => l[0] === 'start'), 20_000, 'the first call to start');
    const ac = new AbortController();
    const waiting = p.forProject(70, { signal: ac.signal }).run('hold_hooks:pid');
    ac.abort();
    const err = await rejectsWith(waiting, 'TK_CALL_ABORTED');
    assert.equal(err.details.sent, false);
    r.go();
    const pid = await first;
    assert.equal(await p.forProject(70).run('hold_hooks:pid'), pid, 'the runtime lives on');
  });

  it('bounds the calls waiting for a project by queueLimit', async () => {
    const p = pool({ maxRuntimesPerProject: 1, queueLimit: 2 });
    const r = release();
    const first = hold(p, 70, r, 'first');
    await waitFor(() => r.lines().some((l) => l[0] === 'start'), 20_000, 'the first call to start');
    const waiting = [p.forProject(70).run('hold_hooks:pid'), p.forProject(70).run('hold_hooks:pid')];
    await rejectsWith(p.forProject(70).run('hold_hooks:pid'), 'TK_QUEUE_FULL');
    r.go();
    await Promise.all([first, ...waiting]);
  });

  it('shares runtimes of one core across its projects with shareCoreRuntimes, up to maxRuntimesPerProject of them', async () => {
    const p = pool({ shareCoreRuntimes: true, maxRuntimesPerProject: 2 });
    const r = release();
    // Projects 71 and 72 (gamma) are on the studio core: one key.
    const a = hold(p, 71, r, 'a');
    await waitFor(() => r.lines().some((l) => l[0] === 'start'), 20_000, 'the first call to start');
    const b = hold(p, 71, r, 'b');
    await waitFor(() => r.lines().filter((l) => l[0] === 'start').length === 2, 20_000, 'the second call to start');
    let thirdSettled = false;
    const third = p.forProject({ id: 72, tank_name: 'gamma' }).run('hold_hooks:pid').finally(() => { thirdSettled = true; });
    const rows = p.list();
    assert.equal(rows.length, 2, 'two runtimes for the shared core, none more for project 72');
    assert.equal(thirdSettled, false, 'project 72 waits: its core\'s runtimes are busy');
    r.go();
    const [pa, pb, pc] = await Promise.all([a, b, third]);
    assert.ok(pc === pa || pc === pb, 'project 72 ran on a runtime of the shared core');
  });
});
