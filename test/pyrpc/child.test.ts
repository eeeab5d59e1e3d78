import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PythonChild, type ChildOptions } from '../../src/pyrpc/index.ts';
import { PYTHON, alive, memoryLogger, rejectsWith, running, waitFor } from '../toolkit/helpers.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'pyrpc');

function options(over: Partial<ChildOptions> = {}, env: Record<string, string> = {}): ChildOptions {
  return {
    label: 'speaker',
    details: { fixture: 'speaker' },
    python: PYTHON,
    script: path.join(FIXTURES, 'speaker.py'),
    cwd: FIXTURES,
    env: { PATH: process.env.PATH ?? '', PYTHONUNBUFFERED: '1', ...env },
    init: { hello: 'there' },
    initTimeoutMs: 10_000,
    maxMessageBytes: 1024 * 1024,
    maxLogLineBytes: 1000,
    stopTimeoutMs: 2000,
    ...over,
  };
}

async function start(t: TestContext, over: Partial<ChildOptions> = {}, env: Record<string, string> = {}): Promise<PythonChild> {
  const child = await PythonChild.start(options(over, env));
  t.after(() => child.close());
  return child;
}

/** Starts a child that must fail init; returns the error and checks nothing was left running. */
async function failsInit(over: Partial<ChildOptions>, env: Record<string, string>, code: string): Promise<Record<string, unknown> & { details: Record<string, unknown> }> {
  const logger = memoryLogger();
  const err = await rejectsWith(PythonChild.start(options({ ...over, logger }, env)), code);
  const pids = logger.lines.map((l) => l.obj.pid).filter((p): p is number => typeof p === 'number');
  for (const pid of pids) assert.equal(running(pid), false, 'a child that failed init is killed');
  return err;
}

describe('PythonChild: init handshake', () => {
  it('counts as ready only after init answered, with what init returned', async (t) => {
    const child = await start(t);
    assert.equal(child.state, 'ready');
    assert.deepEqual((child.initResult as { echo: unknown }).echo, { hello: 'there' });
    assert.equal((child.initResult as { pid: number }).pid, child.pid);
    assert.deepEqual(await child.request('echo', { a: [1, 'b'] }), { a: [1, 'b'] });
    assert.ok((child.reportedRssKb ?? 0) > 0, 'answers carry the peak RSS');
  });

  it('kills a child whose init raises, crashes or never answers, with a coded error each', async () => {
    const raised = await failsInit({}, { PYRPC_INIT: 'raise' }, 'TK_INIT_FAILED');
    assert.equal(raised.details.type, 'ValueError');
    assert.equal(raised.details.pythonCode, 'TK_INIT_FAILED');
    const crashed = await failsInit({}, { PYRPC_INIT: 'crash' }, 'TK_INIT_FAILED');
    assert.equal(crashed.details.exitCode, 3);
    assert.equal(crashed.details.fixture, 'speaker', 'the owner\'s details ride along');
    const hung = await failsInit({ initTimeoutMs: 800 }, { PYRPC_INIT: 'hang' }, 'TK_INIT_TIMEOUT');
    assert.equal(hung.details.timeoutMs, 800);
    assert.equal(hung.details.method, 'init');
    await failsInit({ script: path.join(FIXTURES, 'never_init.py'), initTimeoutMs: 800 }, {}, 'TK_INIT_TIMEOUT');
    const spawn = await failsInit({ python: path.join(FIXTURES, 'no-such-python') }, {}, 'TK_SPAWN_FAILED');
    assert.equal(spawn.details.python, path.join(FIXTURES, 'no-such-python'));
  });
});

describe('PythonChild: calls', () => {
  it('returns coded Python errors and keeps serving', async (t) => {
    const child = await start(t);
    const err = await rejectsWith(child.request('fail', { code: 'MY_CODE' }), 'MY_CODE');
    assert.equal(err.details.type, 'sgeventd_protocol.RpcError');
    assert.equal(err.details.method, 'fail');
    await rejectsWith(child.request('nope', {}), 'TK_NO_METHOD');
    assert.equal(await child.request('echo', 1), 1);
  });

  it('times a call from when it is written, and each progress step re-arms it', async (t) => {
    const child = await start(t);
    const steps: unknown[] = [];
    // Five steps of 300 ms: 1.5 s in all, never 700 ms without a step.
    assert.equal(await child.request('steps', { n: 5, ms: 300 }, { timeoutMs: 700, onProgress: (s) => steps.push(s) }), 5);
    assert.deepEqual(steps, [0, 1, 2, 3, 4]);
    const err = await rejectsWith(child.request('hang', {}, { timeoutMs: 500 }), 'TK_CALL_TIMEOUT');
    assert.equal(err.details.timeoutMs, 500);
    await waitFor(() => child.state === 'dead', 5000, 'the child to be killed');
    assert.equal(running(child.pid), false);
  });

  it('rejects every pending call with a coded error when the child exits, then refuses sends', async (t) => {
    const child = await start(t);
    const calls = [child.request('crash', { ms: 200, code: 7 }), child.request('echo', 1), child.request('sleep', { ms: 10 })];
    assert.equal(child.pending, 3);
    for (const call of calls) {
      const err = await rejectsWith(call, 'TK_RUNTIME_CRASHED');
      assert.equal(err.details.exitCode, 7);
    }
    assert.equal(child.state, 'dead');
    const refused = await rejectsWith(child.request('echo', 2), 'TK_RUNTIME_CRASHED');
    assert.equal(refused.details.sent, false);
  });

  it('abandons a call whose signal fires: before sending it is refused, once written the child is killed', async (t) => {
    const child = await start(t);
    const before = await rejectsWith(child.request('echo', 1, { signal: AbortSignal.abort() }), 'TK_CALL_ABORTED');
    assert.equal(before.details.sent, false);
    assert.equal(child.state, 'ready');
    const ac = new AbortController();
    const hang = child.request('hang', {}, { signal: ac.signal });
    ac.abort();
    const inFlight = await rejectsWith(hang, 'TK_CALL_ABORTED');
    assert.equal(inFlight.details.sent, true);
    await waitFor(() => child.state === 'dead', 5000, 'the child to be killed');
    await rejectsWith(child.request('echo', 1), 'TK_CALL_ABORTED');
  });

  it('fails a request JSON cannot carry without harming the child', async (t) => {
    const child = await start(t);
    await rejectsWith(child.request('echo', { n: 1n }), 'TK_WRITE_FAILED');
    assert.equal(await child.request('echo', 'still here'), 'still here');
  });
});

describe('PythonChild: what it writes', () => {
  it('forwards stdout to the log line by line (garbage there never touches the protocol)', async (t) => {
    const logger = memoryLogger();
    const child = await start(t, { logger });
    const garbage = ['{"id": 2, "result": "forged"}', '\u0000\u0001 not json', 'y'.repeat(5000)];
    assert.equal(await child.request('print', { lines: garbage }), 3);
    assert.equal(await child.request('echo', 'ok'), 'ok');
    await child.close();
    const out = logger.lines.filter((l) => l.obj.stream === 'stdout');
    assert.deepEqual(out.map((l) => l.msg.slice(0, 30)), [...garbage.map((g) => g.slice(0, 30)), 'no newline at the end']);
    assert.equal(out[2]?.obj.truncated, true);
    assert.equal(out[2]?.msg.length, 1000);
    assert.equal(out[0]?.obj.fixture, 'speaker');
  });

  it('kills a child that writes garbage on its protocol pipe', async (t) => {
    const child = await start(t);
    await rejectsWith(child.request('garbage', {}), 'TK_PROTOCOL');
    await waitFor(() => child.state === 'dead', 5000, 'the child to be killed');
    await rejectsWith(child.request('echo', 1), 'TK_PROTOCOL');
  });

  it('kills a child that writes a line over maxMessageBytes', async (t) => {
    const child = await start(t, { maxMessageBytes: 100_000 });
    assert.equal((await child.request('big', { bytes: 50_000 }) as string).length, 50_000);
    const err = await rejectsWith(child.request('big', { bytes: 500_000 }), 'TK_PROTOCOL');
    assert.equal(err.details.limit, 100_000);
    await waitFor(() => child.state === 'dead', 5000, 'the child to be killed');
  });
});

describe('PythonChild: stopping', () => {
  it('stops politely: shutdown answered, exit code 0; close is idempotent; later sends are refused', async (t) => {
    const child = await start(t);
    const p1 = child.close();
    assert.equal(child.close(), p1);
    await p1;
    assert.equal(child.exitCode, 0);
    assert.equal(child.state, 'dead');
    const refused = await rejectsWith(child.request('echo', 1), 'TK_RUNTIME_CLOSED');
    assert.equal(refused.details.sent, false);
  });

  it('escalates to SIGKILL of the whole group: a child and a grandchild that ignore shutdown and SIGTERM', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sgeventd-pyrpc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const child = await start(t, { stopTimeoutMs: 300 }, { PYRPC_STUBBORN: '1' });
    const pidFile = path.join(dir, 'grandchild.pid');
    const grandchild = await child.request('grandchild', { pidFile }) as number;
    assert.ok(existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')) === grandchild);
    assert.equal(running(grandchild), true);
    const pending = child.request('sleep', { ms: 60_000 });
    await child.close();
    assert.equal(child.exitSignal, 'SIGKILL');
    assert.equal(alive(child.pid), false);
    await rejectsWith(pending, 'TK_RUNTIME_CLOSED');
    await waitFor(() => !running(grandchild), 5000, `grandchild ${String(grandchild)} to be killed with the group`);
  });
});

describe('PythonChild: memory', { skip: process.platform !== 'linux' && 'RSS is sampled from /proc on Linux only' }, () => {
  it('kills a child whose resident memory passes maxRssMb, with TK_MEMORY_LIMIT', async (t) => {
    const logger = memoryLogger();
    const child = await start(t, { maxRssMb: 80, rssSampleMs: 100, logger });
    assert.equal(await child.request('echo', 'small'), 'small', 'a child under its limit lives');
    const err = await rejectsWith(child.request('allocate', { mb: 4, ms: 20 }), 'TK_MEMORY_LIMIT');
    assert.equal(err.details.maxRssMb, 80);
    assert.ok(Number(err.details.rssMb) > 80);
    await waitFor(() => child.state === 'dead', 5000, 'the child to be killed');
    assert.equal(running(child.pid), false);
    await rejectsWith(child.request('echo', 1), 'TK_MEMORY_LIMIT');
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.obj.code === 'TK_MEMORY_LIMIT'));
  });
});
