import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import type { RuntimePoolDeps } from '../../src/toolkit/pool-types.ts';
import { runtimePoolOptions } from '../../src/toolkit/options.ts';
import type { RuntimePoolOptions } from '../../src/toolkit/options.ts';
import { writeConfig, writeStudio } from '../fixtures/toolkit/fake-cores.ts';
import type { FakeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { FIXTURES, PYTHON, alive, memoryLogger, rejectsWith, tempDir, waitFor } from './helpers.ts';

type Probe = { syncCount: number; coreVersion: string; shotgunApi3: string; currentApi3: string; tankFile: string; configPath: string; tankCurrentPc: string | null; pid: number };

describe('RuntimePool', () => {
  const tmp = tempDir();
  let studio: FakeStudio;
  const pools: RuntimePool[] = [];
  const pids = new Set<number>();

  before(() => {
    studio = writeStudio(tmp.dir);
    writeConfig(path.join(tmp.dir, 'configs', 'crashy'), { core: { localized: { version: 'v0-crashy', api3Version: '0.0.0', init: 'crash' } } });
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} outlived the pool`);
    tmp.cleanup();
  });

  function pool(over: Partial<RuntimePoolOptions> = {}, deps: Partial<RuntimePoolDeps> = {}): RuntimePool {
    const p = new RuntimePool(runtimePoolOptions({
      python: PYTHON,
      studioCore: studio.studioCore,
      pythonPath: [path.join(FIXTURES, 'studio_py')],
      callTimeoutMs: 10_000,
      projects: {
        70: { mode: 'centralized', path: studio.alpha },
        71: { mode: 'centralized', path: studio.beta },
        gamma: { mode: 'centralized', path: studio.gamma },
        73: { mode: 'centralized', path: studio.delta },
        74: { mode: 'centralized', path: path.join(tmp.dir, 'configs', 'crashy') },
      },
      ...over,
    }), {
      site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('pool-test-key-123') },
      stateDir: path.join(tmp.dir, 'state'),
      env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir },
      initTimeoutMs: 10_000,
      stopTimeoutMs: 2000,
      ...deps,
    });
    pools.push(p);
    return p;
  }

  async function probe(p: RuntimePool, project: number | { id: number; tank_name: string }): Promise<Probe> {
    const r = await p.forProject(project).call('tk', 'probe') as Probe;
    pids.add(r.pid);
    return r;
  }

  function expectCore(r: Probe, config: string, which: 'alpha' | 'studio'): void {
    assert.equal(r.configPath, config);
    assert.equal(r.coreVersion, studio.versions[which]);
    assert.equal(r.shotgunApi3, studio.api3[which], 'the core imported its own shotgun_api3');
    assert.equal(r.currentApi3, studio.api3[which], 'sys.modules holds this core\'s shotgun_api3');
    const root = which === 'alpha' ? studio.alpha : studio.studioCore;
    assert.equal(r.tankFile, path.join(root, 'install', 'core', 'python', 'tank', '__init__.py'));
  }

  for (const mode of ['process', 'shared', 'swap'] as const) {
    it(`interleaves projects on different cores and each call sees its own core (${mode})`, async () => {
      const p = pool(mode === 'swap' ? { isolation: 'swap' } : { shareCoreRuntimes: mode === 'shared' });
      const seen = new Map<string, Set<number>>();
      for (let i = 0; i < 4; i += 1) {
        for (const [project, config, core] of [[70, studio.alpha, 'alpha'], [71, studio.beta, 'studio'], [{ id: 72, tank_name: 'gamma' }, studio.gamma, 'studio']] as const) {
          const r = await probe(p, project);
          expectCore(r, config, core);
          if (mode === 'process') assert.equal(r.tankCurrentPc, config);
          const k = path.basename(config);
          seen.set(k, (seen.get(k) ?? new Set()).add(r.pid));
        }
      }
      const pidOf = (k: string): number => [...(seen.get(k) ?? [])][0] ?? -1;
      for (const s of seen.values()) assert.equal(s.size, 1, 'one warm runtime per key, reused');
      if (mode === 'process') assert.equal(new Set([pidOf('alpha'), pidOf('beta'), pidOf('gamma')]).size, 3);
      if (mode === 'shared') {
        assert.equal(pidOf('beta'), pidOf('gamma'), 'beta and gamma share the studio core runtime');
        assert.notEqual(pidOf('alpha'), pidOf('beta'));
      }
      if (mode === 'swap') assert.equal(new Set([pidOf('alpha'), pidOf('beta'), pidOf('gamma')]).size, 1);
      assert.equal(p.list().length, mode === 'process' ? 3 : mode === 'shared' ? 2 : 1);
      await p.close();
      for (const s of seen.values()) for (const pid of s) assert.equal(alive(pid), false);
    });
  }

  it('swap purges the old core\'s modules and paths before loading the next', async () => {
    const p = pool({ isolation: 'swap' });
    await probe(p, 70);
    const out = await p.forProject(71).run('studio_hooks:env', ['TANK_CURRENT_PC']) as { environ: Record<string, string | null>; sysPath0: string; modules: string[] };
    assert.equal(out.environ.TANK_CURRENT_PC, studio.beta);
    assert.equal(out.sysPath0, path.join(studio.studioCore, 'install', 'core', 'requirements', 'pkgs.zip'));
    assert.ok(out.modules.includes('shotgun_api3'));
    expectCore(await probe(p, 70), studio.alpha, 'alpha');
  });

  it('uses the studio core fallback for a configuration without a core', async () => {
    const r = await probe(pool(), 73);
    expectCore(r, studio.delta, 'studio');
  });

  it('resolves through the site when there is no explicit entry', async () => {
    const lookup = {
      findPrimaryPipelineConfiguration: (id: number) => Promise.resolve(id === 90 ? { id: 4, code: 'Primary', linux_path: studio.gamma } : null),
      findProject: (id: number) => Promise.resolve({ id, tank_name: id === 91 ? 'alpha' : null }),
    };
    const p = pool({ projects: {}, configsRoot: path.join(tmp.dir, 'configs') }, { lookup });
    expectCore(await probe(p, 90), studio.gamma, 'studio');
    expectCore(await probe(p, 91), studio.alpha, 'alpha');
    await rejectsWith(p.forProject(92).call('tk', 'probe'), 'TK_NO_CONFIG');
    assert.equal((await p.resolve(91)).source, 'configsRoot');
  });

  it('starts one runtime for concurrent first calls (maxRuntimesPerProject: 1)', async () => {
    const p = pool({ maxRuntimesPerProject: 1 });
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => probe(p, 71)));
    assert.equal(new Set(all.map((r) => r.pid)).size, 1);
    assert.equal(p.list().length, 1);
  });

  it('replaces a runtime that crashed mid-call without touching other projects', async () => {
    const p = pool();
    const a1 = await probe(p, 70);
    const b1 = await probe(p, 71);
    const err = await rejectsWith(p.forProject(70).call('tk', 'crash'), 'TK_RUNTIME_CRASHED');
    assert.equal(err.details.exitCode, 7);
    const a2 = await probe(p, 70);
    assert.notEqual(a2.pid, a1.pid);
    expectCore(a2, studio.alpha, 'alpha');
    assert.equal((await probe(p, 71)).pid, b1.pid);
  });

  it('kills a hung call after callTimeoutMs and serves the next call from a new runtime', async () => {
    const p = pool({ callTimeoutMs: 1000 });
    const b1 = await probe(p, 71);
    const a1 = await probe(p, 70);
    await rejectsWith(p.forProject(70).call('tk', 'hang'), 'TK_CALL_TIMEOUT');
    await waitFor(() => !alive(a1.pid), 15_000, 'the hung runtime to die');
    assert.notEqual((await probe(p, 70)).pid, a1.pid);
    assert.equal((await probe(p, 71)).pid, b1.pid);
  });

  it('kills a runtime writing garbage on its pipe and replaces it', async () => {
    const p = pool();
    const a1 = await probe(p, 70);
    await rejectsWith(p.forProject(70).call('tk', 'garbage'), 'TK_PROTOCOL');
    assert.notEqual((await probe(p, 70)).pid, a1.pid);
  });

  it('abandons a call when the caller\'s signal fires and replaces that runtime only', async () => {
    const p = pool({ crashBudget: { count: 1, windowMs: 60_000, backoffMs: 60_000 } });
    const b = await probe(p, 71);
    const a = await probe(p, 70);
    const ac = new AbortController();
    const hang = p.forProject(70, { signal: ac.signal }).call('tk', 'hang');
    await waitFor(() => p.list().some((r) => r.projects.includes(70) && r.state === 'busy'), 15_000, 'the call to be in flight');
    ac.abort();
    await rejectsWith(hang, 'TK_CALL_ABORTED');
    await waitFor(() => !alive(a.pid), 15_000, 'the abandoned runtime to die');
    assert.notEqual((await probe(p, 70)).pid, a.pid, 'replaced, and an abort is not counted as a crash');
    assert.equal((await probe(p, 71)).pid, b.pid);
  });

  it('recycles a runtime whose RSS passes maxRssMb', async () => {
    const p = pool({ maxRssMb: 1 });
    const first = await probe(p, 70);
    const second = await probe(p, 70);
    assert.notEqual(second.pid, first.pid);
    await waitFor(() => !alive(first.pid), 15_000, 'the recycled runtime to stop');
  });

  it('synchronizes the path cache before path lookups when syncPathCache is on', async () => {
    const p = pool({ syncPathCache: true });
    const tk = p.forProject(70);
    await tk.call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'a', version: 1 }]);
    await tk.call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'b', version: 2 }]);
    await tk.call('tk', 'templates');
    assert.equal((await probe(p, 70)).syncCount, 2);
    const off = pool();
    await off.forProject(70).call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'a', version: 1 }]);
    assert.equal((await probe(off, 70)).syncCount, 0);
  });

  it('fails fast after too many crashes, then retries after the back-off', async () => {
    const logger = memoryLogger();
    const p = pool({ crashBudget: { count: 2, windowMs: 60_000, backoffMs: 1500 } }, { logger });
    const b = await probe(p, 71);
    await rejectsWith(p.forProject(74).call('tk', 'probe'), 'TK_INIT_FAILED');
    await rejectsWith(p.forProject(74).call('tk', 'probe'), 'TK_INIT_FAILED');
    const failed = await rejectsWith(p.forProject(74).call('tk', 'probe'), 'TK_RUNTIME_FAILED');
    assert.equal(typeof failed.details.retryAt, 'number');
    assert.ok(p.list().some((r) => r.state === 'failed' && r.projects.includes(74)));
    assert.equal((await probe(p, 71)).pid, b.pid, 'other projects carry on');
    await waitFor(() => Date.now() > (failed.details.retryAt as number), 15_000, 'the back-off');
    await rejectsWith(p.forProject(74).call('tk', 'probe'), 'TK_INIT_FAILED');
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.obj.code === 'TK_INIT_FAILED'));
  });

  it('evicts the least recently used idle runtime past maxRuntimes', async () => {
    const p = pool({ maxRuntimes: 2 });
    const a = await probe(p, 70);
    const b = await probe(p, 71);
    await probe(p, 70);
    const c = await probe(p, { id: 72, tank_name: 'gamma' });
    await waitFor(() => !alive(b.pid), 15_000, 'the evicted runtime to stop');
    assert.ok(alive(a.pid));
    assert.deepEqual(p.list().map((r) => r.projects[0]).sort(), [70, 72]);
    assert.ok(alive(c.pid));
  });

  it('stops runtimes idle for idleTtlMs', async () => {
    const p = pool({ idleTtlMs: 200 });
    const a = await probe(p, 70);
    await waitFor(() => !alive(a.pid) && p.list().length === 0, 15_000, 'the idle runtime to stop');
    assert.notEqual((await probe(p, 70)).pid, a.pid);
  });

  it('recycles after maxCallsPerRuntime, on a configuration change, and by hand', async () => {
    const p = pool({ maxCallsPerRuntime: 3 }, { changeCheckIntervalMs: 0 });
    const first = await probe(p, 71);
    await probe(p, 71);
    assert.equal((await probe(p, 71)).pid, first.pid);
    const fourth = await probe(p, 71);
    assert.notEqual(fourth.pid, first.pid, 'recycled after 3 calls');
    appendFileSync(path.join(studio.beta, 'config', 'core', 'pipeline_configuration.yml'), '# changed\n');
    const afterChange = await probe(p, 71);
    assert.notEqual(afterChange.pid, fourth.pid, 'recycled after a config change');
    assert.equal(p.recycle(71), 1);
    assert.notEqual((await probe(p, 71)).pid, afterChange.pid, 'recycled by hand');
    await waitFor(() => !alive(first.pid) && !alive(fourth.pid) && !alive(afterChange.pid), 15_000, 'old runtimes to stop');
  });

  it('prepares a distributed configuration on the bootstrap core, then runs on the prepared core', async () => {
    const source = writeConfig(path.join(tmp.dir, 'dist-source'), { core: { localized: { version: 'v5.0.0-dist', api3Version: '3.5.0' } }, projectId: 75 });
    const projects = {
      75: { mode: 'distributed' as const, pluginId: 'basic.shell', baseConfiguration: `sgtk:descriptor:path?path=${source}` },
      76: { mode: 'distributed' as const, pluginId: 'basic.shell', baseConfiguration: 'sgtk:descriptor:app_store?name=tk-config-basic' },
    };
    const none = await rejectsWith(pool({ projects }).forProject(75).call('tk', 'probe'), 'TK_NO_BOOTSTRAP_CORE');
    assert.equal(none.details.pluginId, 'basic.shell');
    const p = pool({ projects, bootstrapCore: studio.studioCore });
    const r = await probe(p, 75);
    assert.equal(r.coreVersion, 'v5.0.0-dist', 'runs on the prepared configuration\'s core, not the bootstrap core');
    assert.equal(r.shotgunApi3, '3.5.0');
    assert.equal(r.configPath, path.join(tmp.dir, 'state', 'toolkit', 'bundle_cache', 'fakesite', 'p75.basic.shell', 'cfg'));
    assert.equal(r.tankFile, path.join(r.configPath, 'install', 'core', 'python', 'tank', '__init__.py'));
    const res = await p.resolve(75);
    assert.equal(res.mode, 'centralized');
    if (res.mode === 'centralized') assert.equal(res.coreSource, 'bootstrap');
    const failed = await rejectsWith(p.forProject(76).call('tk', 'probe'), 'TK_PREPARE_FAILED');
    assert.equal(failed.details.type, 'tank.TankError');
    assert.equal(p.list().length, 1, 'bootstrap processes are gone');
  });

  it('keeps the daemon\'s secret variables and foreign cores out of runtimes', async () => {
    const env = { ...process.env, FAKE_STUDIO_ROOT: tmp.dir, SG_DAEMON_KEY: 'do-not-pass', TANK_CURRENT_PC: '/elsewhere', PYTHONPATH: path.join(studio.studioCore, 'install', 'core', 'python') };
    const p = pool({}, { env, secretVars: ['SG_DAEMON_KEY'] });
    const out = await p.forProject(70).run('studio_hooks:env', ['SG_DAEMON_KEY', 'TANK_CURRENT_PC', 'PYTHONPATH', 'SHOTGUN_HOME']) as { environ: Record<string, string | null> };
    assert.equal(out.environ.SG_DAEMON_KEY, null);
    assert.equal(out.environ.TANK_CURRENT_PC, studio.alpha);
    assert.equal(out.environ.PYTHONPATH, null);
    assert.ok(out.environ.SHOTGUN_HOME?.startsWith(path.join(tmp.dir, 'state', 'toolkit', 'shotgun_home')));
  });

  it('lists runtimes for `toolkit ps`, answers info, and leaves no process after close', async () => {
    const p = pool();
    await probe(p, 70);
    const info = await p.forProject(71).info();
    assert.equal(info.coreVersion, studio.versions.studio);
    assert.equal(info.configPath, studio.beta);
    assert.ok((info.rssKb ?? 0) > 0);
    const rows = p.list();
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.equal(r.state, 'ready');
      assert.ok(r.pid);
      assert.ok(r.calls >= 1);
    }
    const live = rows.map((r) => r.pid);
    await p.close();
    await p.close();
    for (const pid of live) assert.equal(alive(pid ?? undefined), false);
    await rejectsWith(p.forProject(70).call('tk', 'probe'), 'TK_POOL_CLOSED');
  });

  it('runs engine commands in a per-configuration runtime even when cores are shared', async () => {
    const p = pool({ shareCoreRuntimes: true });
    const shared = await probe(p, 71);
    const who = await p.forProject(71).command('whoami') as { engine: string; core: string };
    assert.deepEqual(who, { engine: 'tk-shell', core: studio.versions.studio });
    assert.equal(p.list().length, 2);
    assert.equal((await probe(p, 71)).pid, shared.pid);
  });
  it('bounds a Python plugin batch by its callbackTimeoutMs from when it is written; its timeout is no crash', async () => {
    const record = path.join(tmp.dir, 'tk_batch.txt');
    // One runtime per project: the batch has to wait for the slow call.
    const p = pool({ maxRuntimesPerProject: 1, crashBudget: { count: 1, windowMs: 60_000, backoffMs: 60_000 } }, { env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir, SGEVENTD_TEST_RECORD: record } });
    const spec = {
      file: path.join(FIXTURES, '..', 'daemon', 'tk_batch.py'), name: 'tk_batch', siteUrl: 'http://127.0.0.1:9', proxy: null,
      useSessionUuid: false, generation: 1, callbackTimeoutMs: 1500,
    };
    const event = (id: number, value: string): Record<string, unknown> => ({
      type: 'EventLogEntry', id, event_type: 'Shotgun_Shot_Change', attribute_name: 'description', meta: { new_value: value }, project: { type: 'Project', id: 70 },
    });
    // The runtime is busy for 2 s with another call: the batch waits behind it and its 1.5 s start only once it is written.
    let slowDone = false;
    const slow = p.forProject(70).run('studio_hooks:sleep', { ms: 2000 }).then(() => { slowDone = true; });
    const steps: unknown[] = [];
    await p.pluginProcess(70, spec, [event(1, 'a'), event(2, 'b')], undefined, (s) => steps.push(s));
    assert.equal(slowDone, true, 'the batch ran after the slow call');
    await slow;
    assert.equal(steps.length, 2);
    const err = await rejectsWith(p.pluginProcess(70, spec, [event(3, 'hang')]), 'TK_CALL_TIMEOUT');
    assert.equal(err.details.timeoutMs, 1500);
    assert.equal(err.details.method, 'plugin_process_batch');
    // With a budget of one crash, a crash would fail the key fast; a callback past its timeout does not.
    await probe(p, 70);
  });
});
