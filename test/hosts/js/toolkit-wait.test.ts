// A JS plugin's callback timeout starts when a runtime starts its Toolkit
// call, not while the call waits for one (issue: a slow call of another
// plugin on the same project must not time this one out).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toolkitRequestHandler } from '../../../src/daemon/toolkit-requests.ts';
import { Secret } from '../../../src/shared/secret.ts';
import { RuntimePool } from '../../../src/toolkit/pool.ts';
import { runtimePoolOptions } from '../../../src/toolkit/options.ts';
import { writeStudio } from '../../fixtures/toolkit/fake-cores.ts';
import { FIXTURES, PYTHON, tempDir } from '../../toolkit/helpers.ts';
import { captureLogger, fixtureHost, makeEvent, within } from './helpers.ts';
import { onCleanup, waitFor } from '../../support/index.ts';

const plugin = (name: string, body: string): string => `
export function registerCallbacks(reg) {
  reg.registerCallback('s', 'k', async function ${name}(ctx) {
    ${body}
  });
}
`;

describe('callbackTimeoutMs and Toolkit queues', () => {
  it('a callback whose Toolkit call waits behind a slow call on its project longer than its timeout is not timed out', async (t) => {
    const tmp = tempDir();
    onCleanup(t, () => tmp.cleanup());
    const studio = writeStudio(tmp.dir);
    const release = path.join(tmp.dir, 'release');
    const record = path.join(tmp.dir, 'record');
    onCleanup(t, () => writeFileSync(release, ''));
    const pool = new RuntimePool(runtimePoolOptions({
      python: PYTHON, studioCore: studio.studioCore, pythonPath: [path.join(FIXTURES, 'studio_py')], callTimeoutMs: 120_000,
      // One runtime for the project: the second call waits for the first.
      maxRuntimesPerProject: 1,
      projects: { 70: { mode: 'centralized', path: studio.alpha } },
    }), {
      site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('wait-test-key') },
      stateDir: path.join(tmp.dir, 'state'), env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir }, initTimeoutMs: 30_000, stopTimeoutMs: 2000,
    });
    onCleanup(t, () => pool.close());
    const handleRequest = toolkitRequestHandler(() => pool);
    const holderFile = path.join(tmp.dir, 'holder.mjs');
    writeFileSync(holderFile, plugin('holder', `await ctx.toolkit.forProject(70).run('hold_hooks:hold', ${JSON.stringify({ release, record, tag: 'holder' })});`));
    const waiterFile = path.join(tmp.dir, 'waiter.mjs');
    writeFileSync(waiterFile, plugin('waiter', `ctx.logger.info({ pid: await ctx.toolkit.forProject(70).run('hold_hooks:pid') }, 'ran');`));
    const holder = fixtureHost(holderFile, { logger: captureLogger().logger, handleRequest, callbackTimeoutMs: 120_000 });
    const { logger, records } = captureLogger();
    const timeoutMs = 1000;
    const waiter = fixtureHost(waiterFile, { logger, handleRequest, callbackTimeoutMs: timeoutMs });
    onCleanup(t, () => Promise.all([holder.close(), waiter.close()]));
    assert.ok((await within(holder.load(), 30_000, 'load holder')).ok);
    assert.ok((await within(waiter.load(), 30_000, 'load waiter')).ok);

    const held = holder.process(makeEvent(1, 'x'));
    await waitFor(() => existsSync(record) && readFileSync(record, 'utf8').includes('start holder'), 'the slow call running in the runtime', 60_000);
    const queuedAt = Date.now();
    const waited = waiter.process(makeEvent(2, 'x'));
    // The waiter's call sits behind the held one for several times its callback timeout.
    await waitFor(() => Date.now() - queuedAt > 3 * timeoutMs, 'three callback timeouts of queueing', 30_000);
    writeFileSync(release, '');
    const [a, b] = await within(Promise.all([held, waited]), 60_000, 'both events');
    assert.equal(a.outcome, 'ok', JSON.stringify(a));
    assert.equal(b.outcome, 'ok', JSON.stringify(b));
    const holderPid = Number(readFileSync(record, 'utf8').split('\n').find((l) => l.startsWith('end holder'))?.split(' ')[2]);
    assert.equal(records.find((r) => r.msg === 'ran')?.pid, holderPid, 'the waiter ran in the runtime it waited for');
  });
});
