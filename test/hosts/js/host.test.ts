import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkerPluginHost, ProcessResult } from '../../../src/hosts/index.ts';
import { captureLogger, fixtureHost, makeEvent, within } from './helpers.ts';

const hosts: WorkerPluginHost[] = [];
function track(host: WorkerPluginHost): WorkerPluginHost {
  hosts.push(host);
  return host;
}
after(async () => {
  await Promise.all(hosts.map((h) => h.close()));
});

function names(result: ProcessResult): string[] {
  return result.results.map((r) => r.callback);
}

describe('WorkerPluginHost: loading', () => {
  it('loads a TS plugin and reports its callbacks, emails and load-time logs', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('good.ts', { logger }));
    assert.equal(host.state, 'loading');
    const result = await within(host.load(), 20_000, 'load');
    assert.equal(result.ok, true);
    assert.ok(result.ok);
    assert.deepEqual(result.emails, ['td@studio.com']);
    assert.deepEqual(result.callbacks.map((c) => [c.index, c.name, c.scriptName, c.stopOnError]), [
      [0, 'onAnything', 'good_script', true],
      [1, 'status', 'status_script', true],
      [2, 'callback2', 'good_script', false],
    ]);
    assert.deepEqual(result.callbacks[1]?.matchEvents, { Shotgun_Shot_Change: ['sg_status_list'] });
    assert.deepEqual(result.callbacks[0]?.args, { n: 1 });
    assert.equal(host.state, 'ready');
    const loading = records.find((r) => r.msg === 'loading');
    assert.equal(loading?.plugin, 'good');
    assert.equal(loading?.phase, 'register');
    // Script keys never leave the plugin's thread.
    assert.ok(!JSON.stringify(result).includes('good-key-1234'));
    assert.ok(!JSON.stringify(records).includes('status-key-5678'));
  });

  it('loads a JS plugin exported through definePlugin as the default export', async () => {
    const { logger } = captureLogger();
    const host = track(fixtureHost('good-js.mjs', { logger }));
    const result = await within(host.load(), 20_000, 'load');
    assert.ok(result.ok);
    assert.equal(result.emails, false);
    assert.deepEqual(result.callbacks.map((c) => c.name), ['jsCallback']);
    assert.deepEqual(result.callbacks[0]?.args, ['a', 'b']);
  });

  const failures: [string, string][] = [
    ['import-throws.ts', 'PLUGIN_IMPORT_FAILED'],
    ['no-register.ts', 'PLUGIN_NO_REGISTER'],
    ['register-throws.ts', 'PLUGIN_REGISTER_FAILED'],
    ['bad-registration.ts', 'PLUGIN_BAD_REGISTRATION'],
  ];
  for (const [file, code] of failures) {
    it(`reports ${file} as ${code} without throwing`, async () => {
      const { logger, records } = captureLogger();
      const host = track(fixtureHost(file, { logger }));
      const result = await within(host.load(), 20_000, 'load');
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.equal(result.error.code, code);
      assert.equal(typeof result.error.message, 'string');
      assert.equal(host.state, 'failed');
      assert.ok(records.some((r) => r.level === 20 && r.plugin === host.name && r.msg === 'plugin failed to load'), 'load failure traced');
      await assert.rejects(host.process(makeEvent(1, 'x')), { code: 'PLUGIN_HOST_STATE' });
    });
  }

  it('reports a syntax error as PLUGIN_IMPORT_FAILED with the SyntaxError kept', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-plugin-'));
    try {
      const file = path.join(dir, 'broken.ts');
      await writeFile(file, 'export function registerCallbacks(reg: unknown) {\n  reg.logger.info(\n}\n');
      const { logger } = captureLogger();
      const host = track(fixtureHost(file, { logger }));
      const result = await within(host.load(), 20_000, 'load');
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'PLUGIN_IMPORT_FAILED');
      assert.equal(result.error.name, 'SyntaxError');
      assert.equal(typeof result.error.stack, 'string');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads TypeScript that type stripping refuses (enum, parameter properties, namespace) and extensionless relative imports; stack traces name the plugin\'s lines', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-plugin-'));
    try {
      await writeFile(path.join(dir, 'helpers.ts'), 'export enum Status { Ready = "rdy", Final = "fin" }\nexport namespace Names { export const prefix = "shot_"; }\n');
      const file = path.join(dir, 'rich.ts');
      await writeFile(file, [
        "import { Status, Names } from './helpers';",
        'class Tally { constructor(private readonly label: string, public count = 0) {} bump(): string { this.count++; return `${this.label}:${this.count}`; } }',
        "const tally = new Tally(Names.prefix + Status.Final);",
        'export function registerCallbacks(reg: any) {',
        "  reg.registerCallback('s', 'k', (ctx: any) => {",
        "    if (ctx.event.id === 2) throw new Error('boom at ' + tally.bump());",
        "    ctx.logger.info({ tally: tally.bump() }, 'counted');",
        '  });',
        '}',
      ].join('\n'));
      const { logger, records } = captureLogger();
      const host = track(fixtureHost(file, { logger }));
      const result = await within(host.load(), 20_000, 'load');
      assert.ok(result.ok, JSON.stringify(result));
      const ok = await within(host.process(makeEvent(1, 'Shotgun_Shot_Change')), 20_000, 'process');
      assert.equal(ok.outcome, 'ok', JSON.stringify(ok));
      assert.equal(records.find((r) => r.msg === 'counted')?.tally, 'shot_fin:1');
      const failed = await within(host.process(makeEvent(2, 'Shotgun_Shot_Change')), 20_000, 'process');
      assert.equal(failed.outcome, 'deactivate');
      assert.ok(failed.outcome === 'deactivate');
      assert.match(failed.error.message, /boom at shot_fin:2/);
      assert.match(failed.error.stack ?? '', /rich\.ts:6:/, 'the stack names the line in the plugin file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bounds a plugin whose import never finishes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-plugin-'));
    try {
      const file = path.join(dir, 'stuck.mjs');
      await writeFile(file, 'for (;;) {}\nexport function registerCallbacks() {}\n');
      const { logger } = captureLogger();
      const host = track(fixtureHost(file, { logger, loadTimeoutMs: 1500 }));
      const result = await within(host.load(), 20_000, 'load');
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'PLUGIN_LOAD_TIMEOUT');
      assert.equal(host.state, 'failed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('WorkerPluginHost: processing', () => {
  it('runs matching callbacks in registration order with the documented context', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('good.ts', { logger, siteUrl: 'https://studio.shotgrid.example:8443/' }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);

    const change = makeEvent(101, 'Shotgun_Shot_Change', 'sg_status_list');
    assert.equal(host.matches(change), true);
    const r1 = await within(host.process(change, { attempt: 2, replay: true }), 20_000, 'process');
    assert.equal(r1.outcome, 'ok');
    assert.deepEqual(names(r1), ['onAnything', 'status']);
    assert.ok(r1.results.every((r) => r.startedAt instanceof Date && r.durationMs >= 0 && r.error === undefined));
    const anything = records.find((r) => r.msg === 'anything');
    assert.deepEqual(
      { eventId: anything?.eventId, attempt: anything?.attempt, key: anything?.key, replay: anything?.replay, args: anything?.args, isDate: anything?.isDate, toolkit: anything?.toolkit, callback: anything?.callback, plugin: anything?.plugin },
      { eventId: 101, attempt: 2, key: 'studio.shotgrid.example:8443:101:good:onAnything', replay: true, args: { n: 1 }, isDate: true, toolkit: true, callback: 'onAnything', plugin: 'good' },
    );
    assert.equal(records.find((r) => r.msg === 'status')?.tag, 'st');

    const created = makeEvent(102, 'Shotgun_Asset_New');
    const r2 = await within(host.process(created), 20_000, 'process');
    assert.deepEqual(names(r2), ['onAnything', 'callback2']);
    const other = makeEvent(103, 'Shotgun_Shot_Change', 'code');
    assert.deepEqual(names(await within(host.process(other), 20_000, 'process')), ['onAnything']);
    assert.equal(host.state, 'ready');
  });

  it('does not cross the thread for events no callback matches', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('hangs.ts', { logger }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    // Both callbacks take everything, so use a plugin with a narrow filter instead.
    const narrow = track(fixtureHost('good-js.mjs', { logger }));
    assert.ok((await within(narrow.load(), 20_000, 'load')).ok);
    assert.equal(host.matches(makeEvent(1, 'anything')), true);
    const before = records.length;
    const result = await within(narrow.process(makeEvent(5, 'whatever')), 20_000, 'process');
    assert.deepEqual(names(result), ['jsCallback']);
    assert.ok(records.length > before);
  });

  it('stopOnError=true: a failing callback stops the event and asks for deactivation', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('throws.ts', { logger }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(7, 'boom')), 20_000, 'process');
    assert.equal(result.outcome, 'deactivate');
    assert.ok(result.outcome === 'deactivate');
    assert.equal(result.callback, 'boom');
    assert.equal(result.error.code, 'E_BOOM');
    assert.equal(result.error.name, 'BoomError');
    assert.match(result.error.stack ?? '', /throws\.ts/);
    assert.deepEqual(names(result), ['first', 'boom']);
    assert.ok(!records.some((r) => r.msg === 'third'));
    const logged = records.find((r) => r.msg === 'callback failed');
    assert.deepEqual([logged?.level, logged?.plugin, logged?.callback, logged?.eventId], [20, 'throws', 'boom', 7]);
    // The thread is still usable: the dispatcher decides what deactivation means.
    assert.equal(host.state, 'ready');
    assert.equal((await within(host.process(makeEvent(8, 'fine')), 20_000, 'process')).outcome, 'ok');
  });

  it('stopOnError=false: the failure is reported and the next callbacks still run', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('throws.ts', { logger, env: { ...process.env, STOP_ON_ERROR: '0' } }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(9, 'boom')), 20_000, 'process');
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(names(result), ['first', 'boom', 'third']);
    assert.deepEqual(result.failures.map((f) => [f.callback, f.error.code]), [['boom', 'E_BOOM']]);
    assert.ok(records.some((r) => r.msg === 'third' && r.eventId === 9));
  });

  it('answers worker requests through handleRequest, and refuses unknown methods with a code', async () => {
    const { logger, records } = captureLogger();
    const seen: unknown[] = [];
    const host = track(fixtureHost('requester.ts', {
      logger,
      handleRequest: (method, params) => {
        seen.push([method, params]);
        if (method === 'echo') return { echoed: params };
        throw Object.assign(new Error('unknown method'), { code: 'NO_SUCH_METHOD' });
      },
    }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(11, 'x')), 20_000, 'process');
    assert.equal(result.outcome, 'ok');
    const answered = records.find((r) => r.msg === 'answered');
    assert.deepEqual(answered?.answer, { echoed: { eventId: 11, when: '2026-01-02T03:04:05.000Z' } });
    const refused = records.find((r) => r.msg === 'refused');
    assert.equal(refused?.failedCode, 'PLUGIN_CALLBACK_ERROR');
    assert.equal(refused?.originalCode, 'NO_SUCH_METHOD');
    assert.equal(seen.length, 2);
    // Dates cross the boundary as Dates.
    assert.ok((seen[0] as [string, { when: unknown }])[1].when instanceof Date);
  });
});

describe('WorkerPluginHost: timeouts and dying threads', () => {
  it('terminates a hanging callback, restarts the thread, and other hosts keep working meanwhile', async () => {
    const { logger, records } = captureLogger();
    const hang = track(fixtureHost('hangs.ts', { logger, callbackTimeoutMs: 2000 }));
    const good = track(fixtureHost('good.ts', { logger }));
    assert.ok((await within(hang.load(), 20_000, 'load')).ok);
    assert.ok((await within(good.load(), 20_000, 'load')).ok);
    const loads = () => records.filter((r) => r.msg === 'hangs loaded').length;
    assert.equal(loads(), 1);

    const stuck = hang.process(makeEvent(20, 'hang'));
    assert.equal(hang.state, 'busy');
    const meanwhile = await within(good.process(makeEvent(21, 'Shotgun_Shot_New')), 20_000, 'good process');
    assert.equal(meanwhile.outcome, 'ok');
    assert.equal(hang.state, 'busy', 'the other plugin finished while this one was still stuck');

    const result = await within(stuck, 20_000, 'timeout');
    assert.equal(result.outcome, 'deactivate');
    assert.ok(result.outcome === 'deactivate');
    assert.equal(result.callback, 'spin');
    assert.equal(result.error.code, 'PLUGIN_CALLBACK_TIMEOUT');
    assert.ok(!records.some((r) => r.msg === 'after' && r.eventId === 20));
    assert.equal(hang.state, 'ready');

    // The next event gets a fresh thread (the plugin is imported again).
    const next = await within(hang.process(makeEvent(22, 'fine')), 20_000, 'process after restart');
    assert.equal(next.outcome, 'ok');
    assert.deepEqual(names(next), ['spin', 'after']);
    assert.equal(loads(), 2);
  });

  it('with stopOnError=false a timed-out callback is a failure and the next callbacks run in a new thread', async () => {
    const { logger, records } = captureLogger();
    const hang = track(fixtureHost('hangs.ts', { logger, callbackTimeoutMs: 1500, env: { ...process.env, STOP_ON_ERROR: '0' } }));
    assert.ok((await within(hang.load(), 20_000, 'load')).ok);
    const result = await within(hang.process(makeEvent(30, 'hang')), 20_000, 'process');
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(result.failures.map((f) => [f.callback, f.error.code]), [['spin', 'PLUGIN_CALLBACK_TIMEOUT']]);
    assert.deepEqual(names(result), ['after']);
    assert.ok(records.some((r) => r.msg === 'after' && r.eventId === 30));
  });

  it('reports process.exit in a callback as PLUGIN_WORKER_DIED and recovers on the next event', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('exits.ts', { logger }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(40, 'exit')), 20_000, 'process');
    assert.equal(result.outcome, 'deactivate');
    assert.ok(result.outcome === 'deactivate');
    assert.equal(result.error.code, 'PLUGIN_WORKER_DIED');
    assert.equal(result.error.details?.exitCode, 3);
    assert.equal(result.callback, 'quitter');
    const next = await within(host.process(makeEvent(41, 'fine')), 20_000, 'process');
    assert.equal(next.outcome, 'ok');
    assert.ok(records.some((r) => r.msg === 'alive' && r.eventId === 41));
  });

  it('a plugin that allocates without bound on its heap dies alone (maxMemoryMb → heap limit), with PLUGIN_MEMORY_LIMIT', async () => {
    const { logger } = captureLogger();
    const host = track(fixtureHost('oom.ts', { logger, maxMemoryMb: 48, resourceLimits: { maxYoungGenerationSizeMb: 8 } }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(50, 'oom')), 60_000, 'process');
    assert.equal(result.outcome, 'deactivate');
    assert.ok(result.outcome === 'deactivate');
    assert.equal(result.error.code, 'PLUGIN_MEMORY_LIMIT');
    // Ended by the host's sampling (the thread busy over its limit), or by V8 at the thread's own heap limit, whichever comes first.
    const cause = result.error.details?.causeCode;
    assert.ok(cause === 'ERR_WORKER_OUT_OF_MEMORY' || (cause === 'PLUGIN_MEMORY_LIMIT' && Number(result.error.details?.heapMb) > 48), JSON.stringify(result.error.details));
    assert.equal((await within(host.process(makeEvent(51, 'fine')), 20_000, 'process')).outcome, 'ok');
  });

  it('a plugin that holds Buffers without bound (outside the heap limit) is ended by sampling, with PLUGIN_MEMORY_LIMIT', async () => {
    const { logger } = captureLogger();
    const host = track(fixtureHost('oom-buffers.ts', { logger, maxMemoryMb: 96, memorySampleMs: 50, callbackTimeoutMs: 120_000 }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const result = await within(host.process(makeEvent(52, 'oom')), 60_000, 'process');
    assert.ok(result.outcome === 'deactivate', JSON.stringify(result));
    assert.equal(result.error.code, 'PLUGIN_MEMORY_LIMIT');
    assert.ok(Number(result.error.details?.externalMb) > 96);
    assert.equal((await within(host.process(makeEvent(53, 'fine')), 20_000, 'process')).outcome, 'ok');
  });

  it('threads lost over the restart budget deactivate with PLUGIN_RESTART_BUDGET until the next load', async () => {
    const { logger } = captureLogger();
    const host = track(fixtureHost('oom.ts', { logger, maxMemoryMb: 32, resourceLimits: { maxYoungGenerationSizeMb: 8 }, restartBudget: { count: 1, windowMs: 600_000 } }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const codes: string[] = [];
    for (let id = 54; id < 57; id++) {
      const r = await within(host.process(makeEvent(id, 'oom')), 60_000, 'process');
      assert.ok(r.outcome === 'deactivate');
      codes.push(r.error.code);
    }
    // Two losses fit a budget of 1 restart; the third event finds it spent.
    assert.deepEqual(codes, ['PLUGIN_MEMORY_LIMIT', 'PLUGIN_MEMORY_LIMIT', 'PLUGIN_RESTART_BUDGET']);
    assert.ok((await within(host.load(), 20_000, 'reload')).ok);
    assert.equal((await within(host.process(makeEvent(57, 'fine')), 20_000, 'process')).outcome, 'ok');
  });

  it('close() is idempotent and refuses further work', async () => {
    const { logger } = captureLogger();
    const host = fixtureHost('good.ts', { logger });
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    await host.close();
    await host.close();
    assert.equal(host.state, 'closed');
    await assert.rejects(host.process(makeEvent(1, 'x')), { code: 'PLUGIN_HOST_STATE' });
    await assert.rejects(host.load(), { code: 'PLUGIN_HOST_STATE' });
  });

  it('close() during a running event resolves it as aborted', async () => {
    const { logger } = captureLogger();
    const host = fixtureHost('hangs.ts', { logger, callbackTimeoutMs: 60_000 });
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const running = host.process(makeEvent(60, 'hang'));
    await host.close();
    const result = await within(running, 20_000, 'aborted');
    assert.equal(result.outcome, 'aborted');
  });
});

describe('WorkerPluginHost: plugin output', () => {
  it('turns console output of the plugin thread into log records', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-plugin-'));
    try {
      const file = path.join(dir, 'chatty.mjs');
      await writeFile(file, [
        'export function registerCallbacks(reg) {',
        '  reg.registerCallback("s", "k", function talk({ event }) {',
        '    console.log(`out ${event.id}`);',
        '    console.error(`err ${event.id}`);',
        '  });',
        '}',
      ].join('\n'));
      const { logger, records } = captureLogger();
      const host = track(fixtureHost(file, { logger }));
      assert.ok((await within(host.load(), 20_000, 'load')).ok);
      assert.equal((await within(host.process(makeEvent(90, 'x')), 20_000, 'process')).outcome, 'ok');
      // Stream output is asynchronous: wait (bounded) for both lines.
      const deadline = Date.now() + 10_000;
      while (records.filter((r) => r.stream !== undefined).length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const lines = records.filter((r) => r.stream !== undefined).map((r) => [r.stream, r.msg, r.level, r.plugin]);
      assert.deepEqual(lines.sort(), [['stderr', 'err 90', 40, 'chatty'], ['stdout', 'out 90', 30, 'chatty']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('WorkerPluginHost: misuse', () => {
  it('shares one thread between concurrent loads, refuses a second event while busy, and bad events', async () => {
    const { logger, records } = captureLogger();
    const host = track(fixtureHost('hangs.ts', { logger, callbackTimeoutMs: 60_000 }));
    const [a, b] = await within(Promise.all([host.load(), host.load()]), 30_000, 'loads');
    assert.ok(a.ok && b.ok);
    assert.equal(records.filter((r) => r.msg === 'hangs loaded').length, 1);
    await assert.rejects(host.process({ ...makeEvent(1, 'x'), id: 'one' as unknown as number }), { code: 'PLUGIN_PROTOCOL' });
    assert.equal(host.state, 'ready');
    const running = host.process(makeEvent(2, 'hang'));
    await assert.rejects(host.process(makeEvent(3, 'x')), { code: 'PLUGIN_HOST_STATE' });
    await assert.rejects(host.load(), { code: 'PLUGIN_HOST_STATE' });
    await host.close();
    assert.equal((await within(running, 20_000, 'abort')).outcome, 'aborted');
  });
});

describe('WorkerPluginHost: restart budget', () => {
  it('stops restarting a thread lost too often, until the next load()', async () => {
    const { logger } = captureLogger();
    const host = track(fixtureHost('exits.ts', { logger, restartBudget: { count: 1, windowMs: 600_000 } }));
    assert.ok((await within(host.load(), 20_000, 'load')).ok);
    const first = await within(host.process(makeEvent(1, 'exit')), 20_000, 'first death');
    assert.equal(first.outcome === 'deactivate' ? first.error.code : null, 'PLUGIN_WORKER_DIED');
    // One loss is within the budget: the thread comes back for the next event...
    const second = await within(host.process(makeEvent(2, 'exit')), 20_000, 'second death');
    assert.equal(second.outcome === 'deactivate' ? second.error.code : null, 'PLUGIN_WORKER_DIED');
    // ...the second is not.
    const third = await within(host.process(makeEvent(3, 'fine')), 20_000, 'refused restart');
    assert.equal(third.outcome, 'deactivate');
    assert.equal(third.outcome === 'deactivate' ? third.error.code : null, 'PLUGIN_RESTART_BUDGET');
    assert.equal(host.state, 'failed');
    // An explicit load (file changed, plugin enabled) starts over.
    assert.ok((await within(host.load(), 20_000, 'reload')).ok);
    assert.equal((await within(host.process(makeEvent(4, 'fine')), 20_000, 'after reload')).outcome, 'ok');
  });
});
