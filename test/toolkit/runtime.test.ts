import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ProjectRuntime } from '../../src/toolkit/runtime.ts';
import { writeConfig, writeCore, writeStudio } from '../fixtures/toolkit/fake-cores.ts';
import type { FakeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { FIXTURES, SCRIPT_KEY, alive, launch, memoryLogger, rejectsWith, running, tempDir, waitFor } from './helpers.ts';

const corePy = (root: string): string => path.join(root, 'install', 'core', 'python');

describe('ProjectRuntime', () => {
  const tmp = tempDir();
  let studio: FakeStudio;
  const started: ProjectRuntime[] = [];
  const start = async (...a: Parameters<typeof launch>): Promise<ProjectRuntime> => {
    const rt = await ProjectRuntime.start(launch(...a));
    started.push(rt);
    return rt;
  };

  before(() => {
    studio = writeStudio(tmp.dir);
  });
  after(async () => {
    await Promise.all(started.map((r) => r.close()));
    for (const r of started) assert.equal(alive(r.pid), false);
    tmp.cleanup();
  });

  it('starts on the configuration\'s own core and reports it after init', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    assert.equal(rt.state, 'ready');
    assert.equal(rt.initResult?.coreVersion, studio.versions.alpha);
    assert.equal(rt.initResult?.shotgunApi3, studio.api3.alpha);
    assert.equal(rt.initResult?.corePath, path.join(corePy(studio.alpha), 'sgtk'));
    const probe = await rt.request('call', { target: 'tk', path: 'probe' }) as Record<string, unknown>;
    assert.equal(probe.coreVersion, studio.versions.alpha);
    assert.equal(probe.shotgunApi3, studio.api3.alpha);
    assert.equal(probe.tankCurrentPc, studio.alpha);
    assert.equal(probe.scriptName, 'sgeventd-test');
    assert.equal(probe.keyLength, SCRIPT_KEY.length);
    assert.equal(rt.calls, 1);
  });

  it('never puts credentials in argv or the environment', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    const pid = rt.pid;
    assert.ok(pid);
    for (const f of ['cmdline', 'environ']) {
      const text = readFileSync(`/proc/${pid}/${f}`, 'latin1');
      assert.ok(!text.includes(SCRIPT_KEY), `${f} holds the key`);
      assert.ok(text.length > 0);
    }
  });

  it('returns Templates, Contexts, tuples and sets as plain JSON', async () => {
    const rt = await start(tmp.dir, studio.gamma, corePy(studio.studioCore));
    assert.deepEqual(await rt.request('call', { target: 'tk', path: 'templates.shot_work' }), {
      type: 'Template', name: 'shot_work', definition: `${studio.gamma}/data/{Shot}/work/v{version}.ma`,
    });
    assert.deepEqual(
      await rt.request('call', { target: 'tk', path: 'paths_from_template', args: [{ $template: 'shot_work' }, { Shot: 'sh010', version: 3 }] }),
      [`${studio.gamma}/data/sh010/work/v3.ma`],
    );
    const ctx = await rt.request('call', { target: 'tk', path: 'context_from_entity', args: ['Shot', 12] }) as Record<string, unknown>;
    assert.equal(ctx.type, 'Context');
    assert.deepEqual(ctx.entity, { type: 'Shot', id: 12 });
    assert.deepEqual(await rt.request('call', { target: 'tk', path: 'echo', args: [1, 'a'], kwargs: { k: [true] } }), {
      args: [1, 'a'], kwargs: { k: [true] }, tuple: [1, 2], set: [3],
    });
    assert.equal(await rt.request('call', { target: 'sgtk', path: '__version__' }), studio.versions.studio);
  });

  it('returns Python exceptions as coded errors with type and traceback', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    const err = await rejectsWith(rt.request('call', { target: 'tk', path: 'boom' }), 'TK_PYTHON_ERROR');
    assert.equal(err.details.type, 'tank.TankError');
    assert.match(String(err.details.traceback), /Traceback/);
    assert.equal(err.details.pythonMessage, `boom from ${studio.versions.alpha}`);
    assert.equal(await rt.request('ping', {}), 'pong', 'the runtime keeps serving');
  });

  it('runs studio code with tk, sgtk, the event and args, and engine commands', async () => {
    const rt = await start(tmp.dir, studio.beta, corePy(studio.studioCore));
    const out = await rt.request('run', { fn: 'studio_hooks:describe', event: { id: 5 }, args: { a: 1 } }) as Record<string, unknown>;
    assert.equal(out.sgtkVersion, studio.versions.studio);
    assert.deepEqual(out.event, { id: 5 });
    assert.deepEqual(out.args, { a: 1 });
    assert.deepEqual(await rt.request('command', { name: 'echo', args: [1, 2] }), [1, 2]);
    const we = await rt.request('run', { fn: 'studio_hooks:with_engine' }) as Record<string, unknown>;
    assert.equal(we.engine, 'tk-shell');
    await rejectsWith(rt.request('command', { name: 'nope' }), 'TK_NO_COMMAND');
  });

  it('fails like a real core when TANK_CURRENT_PC names another configuration', async () => {
    const rt = await start(tmp.dir, studio.gamma, corePy(studio.studioCore));
    const err = await rejectsWith(rt.request('call', { configPath: studio.beta, target: 'tk', path: 'probe' }), 'TK_PYTHON_ERROR');
    assert.equal(err.details.type, 'tank.TankInitError');
  });

  it('kills a runtime whose init raises, crashes or hangs, with a coded error each', async () => {
    const mk = (name: string, init: 'raise' | 'crash' | 'hang'): string =>
      writeConfig(path.join(tmp.dir, 'bad', name), { core: { localized: { version: `v0-${name}`, api3Version: '0.0.1', init } } });
    const logger = memoryLogger();
    const raised = await rejectsWith(ProjectRuntime.start(launch(tmp.dir, mk('r', 'raise'), corePy(path.join(tmp.dir, 'bad', 'r')), { logger })), 'TK_INIT_FAILED');
    assert.equal(raised.details.type, 'tank.TankError');
    const crashed = await rejectsWith(ProjectRuntime.start(launch(tmp.dir, mk('c', 'crash'), corePy(path.join(tmp.dir, 'bad', 'c')))), 'TK_INIT_FAILED');
    assert.equal(crashed.details.exitCode, 3);
    const hung = await rejectsWith(ProjectRuntime.start(launch(tmp.dir, mk('h', 'hang'), corePy(path.join(tmp.dir, 'bad', 'h')), { initTimeoutMs: 1500 })), 'TK_INIT_TIMEOUT');
    assert.equal(hung.details.method, 'init');
    const never = await rejectsWith(ProjectRuntime.start(launch(tmp.dir, studio.alpha, corePy(studio.alpha), { script: path.join(FIXTURES, 'never_init.py'), initTimeoutMs: 1000 })), 'TK_INIT_TIMEOUT');
    assert.equal(never.details.timeoutMs, 1000);
    await rejectsWith(ProjectRuntime.start(launch(tmp.dir, studio.alpha, corePy(studio.alpha), { script: path.join(FIXTURES, 'garbage_runtime.py') })), 'TK_PROTOCOL');
    await rejectsWith(ProjectRuntime.start(launch(tmp.dir, studio.alpha, corePy(studio.alpha), { python: path.join(tmp.dir, 'no-such-python') })), 'TK_SPAWN_FAILED');
  });

  it('rejects the call in flight and every queued call when the runtime crashes, then refuses sends', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    const pid = rt.pid;
    const crash = rt.request('call', { target: 'tk', path: 'crash' });
    const queued = rt.request('ping', {});
    const err = await rejectsWith(crash, 'TK_RUNTIME_CRASHED');
    assert.equal(err.details.exitCode, 7);
    assert.equal(err.details.project, 'alpha');
    const q = await rejectsWith(queued, 'TK_RUNTIME_CRASHED');
    assert.equal(q.details.sent, false);
    assert.equal(rt.state, 'dead');
    assert.equal(alive(pid), false);
    await rejectsWith(rt.request('ping', {}), 'TK_RUNTIME_CRASHED');
  });

  it('abandons a call that takes longer than callTimeoutMs and kills the runtime', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha), { callTimeoutMs: 800 });
    const err = await rejectsWith(rt.request('call', { target: 'tk', path: 'hang' }), 'TK_CALL_TIMEOUT');
    assert.equal(err.details.timeoutMs, 800);
    await rt.close();
    assert.equal(rt.state, 'dead');
    assert.equal(alive(rt.pid), false);
  });

  it('kills what a timed-out call started along with the runtime (its own process group)', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha), { callTimeoutMs: 1500 });
    const pidFile = path.join(tmp.dir, 'grandchild.pid');
    await rejectsWith(rt.request('run', { fn: 'studio_hooks:spawn_and_hang', args: { pidFile } }), 'TK_CALL_TIMEOUT');
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(grandchild > 0);
    await rt.close();
    await waitFor(() => !running(grandchild), 5000, `grandchild ${String(grandchild)} to be killed`);
    assert.equal(running(rt.pid), false);
  });

  it('exits on its own, mid-call, when the daemon that started it dies', async () => {
    const parent = spawn(process.execPath, [path.join(FIXTURES, 'orphan-parent.ts'), tmp.dir, studio.alpha, corePy(studio.alpha)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
      parent.once('exit', (code) => reject(new Error(`orphan-parent exited early with ${String(code)}`)));
    });
    await waitFor(() => existsSync(path.join(tmp.dir, 'orphan-grandchild.pid')), 10_000, 'the hanging call to start');
    assert.equal(running(pid), true);
    parent.kill('SIGKILL');
    await waitFor(() => !running(pid), 8000, `runtime ${String(pid)} to notice its daemon is gone`);
  });

  it('kills a runtime that writes garbage or an oversized message on its protocol pipe', async () => {
    const a = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    await rejectsWith(a.request('call', { target: 'tk', path: 'garbage' }), 'TK_PROTOCOL');
    const b = await start(tmp.dir, studio.alpha, corePy(studio.alpha), { maxMessageBytes: 100_000 });
    const err = await rejectsWith(b.request('call', { target: 'tk', path: 'big', args: [500_000] }), 'TK_PROTOCOL');
    assert.equal(err.details.limit, 100_000);
    await Promise.all([a.close(), b.close()]);
    assert.equal(alive(a.pid) || alive(b.pid), false);
  });

  it('forwards stdout to the log line by line, cutting long lines, without touching the protocol', async () => {
    const logger = memoryLogger();
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha), { logger });
    assert.equal(await rt.request('call', { target: 'tk', path: 'spam', args: [5000, 100] }), 5000);
    assert.equal(await rt.request('call', { target: 'tk', path: 'spam', args: [1, 200_000] }), 1);
    await rt.close();
    const out = logger.lines.filter((l) => l.obj.stream === 'stdout');
    assert.equal(out.length, 5001);
    const long = out.at(-1);
    assert.equal(long?.obj.truncated, true);
    assert.ok((long?.msg.length ?? 0) <= 1000);
  });

  it('drops a queued call whose caller gave up, and kills the runtime for one in flight', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha));
    const inFlight = new AbortController();
    const queued = new AbortController();
    const hang = rt.request('call', { target: 'tk', path: 'hang' }, 60_000, inFlight.signal);
    const waiting = rt.request('ping', {}, 60_000, queued.signal);
    queued.abort();
    const q = await rejectsWith(waiting, 'TK_CALL_ABORTED');
    assert.equal(q.details.sent, false);
    assert.equal(rt.state, 'busy', 'the runtime carries on with the call in flight');
    inFlight.abort();
    const h = await rejectsWith(hang, 'TK_CALL_ABORTED');
    assert.equal(h.details.sent, true);
    await rt.close();
    assert.equal(alive(rt.pid), false);
    await rejectsWith(rt.request('ping', {}, 1000, AbortSignal.abort()), 'TK_CALL_ABORTED');
  });

  it('bounds its queue', async () => {
    const rt = await start(tmp.dir, studio.alpha, corePy(studio.alpha), { queueLimit: 2 });
    const calls = [rt.request('ping', {}), rt.request('ping', {}), rt.request('ping', {})];
    await rejectsWith(rt.request('ping', {}), 'TK_QUEUE_FULL');
    assert.deepEqual(await Promise.all(calls), ['pong', 'pong', 'pong']);
  });

  it('closes idempotently, SIGKILLing a runtime that ignores shutdown and SIGTERM', async () => {
    const rt = await ProjectRuntime.start(launch(tmp.dir, studio.alpha, corePy(studio.alpha), { script: path.join(FIXTURES, 'ignores_term.py'), stopTimeoutMs: 300 }));
    const p1 = rt.close();
    const p2 = rt.close();
    assert.equal(p1, p2);
    await p1;
    assert.equal(rt.exitSignal, 'SIGKILL');
    assert.equal(alive(rt.pid), false);
    await rejectsWith(rt.request('ping', {}), 'TK_RUNTIME_CLOSED');
  });

  it('exits cleanly on shutdown', async () => {
    const rt = await ProjectRuntime.start(launch(tmp.dir, studio.alpha, corePy(studio.alpha)));
    await rt.request('command', { name: 'echo', args: [] });
    await rt.close();
    assert.equal(rt.exitCode, 0);
  });

  it('serves several configurations of one shared core, each with its own tk', async () => {
    const rt = await start(tmp.dir, undefined, corePy(studio.studioCore), {}, { mode: 'shared-core' });
    const b = await rt.request('call', { configPath: studio.beta, target: 'tk', path: 'probe' }) as Record<string, unknown>;
    const g = await rt.request('call', { configPath: studio.gamma, target: 'tk', path: 'probe' }) as Record<string, unknown>;
    assert.equal(b.configPath, studio.beta);
    assert.equal(g.configPath, studio.gamma);
    assert.equal(b.tankCurrentPc, null);
    assert.equal(b.pid, g.pid);
    const other = writeCore(path.join(tmp.dir, 'unused-core'), { version: 'v7', api3Version: '7.0.0' });
    assert.ok(other);
  });
});
