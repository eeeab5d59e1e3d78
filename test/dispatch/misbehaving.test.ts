import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, chmod, unlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { openSqliteState, pluginId } from '../../src/state/index.ts';
import { runCli } from '../cli/run-cli.ts';
import { makeHarness, addPlugin, waitFor, runDaemon, newestEventId, type Harness } from './harness.ts';
import { writeYaml, childEnv, idsByPlugin } from './child.ts';

/** A plugin whose one callback records "<name> <id> <type> <attempt>" after `before` (JS source) ran. */
function pluginSource(name: string, before: string, stopOnError = true): string {
  return `import { appendFileSync, existsSync } from 'node:fs';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    const file = process.env.SGEVENTD_TEST_RECORD;
    void existsSync;
    ${before}
    appendFileSync(file, '${name} ' + ctx.event.id + ' ' + ctx.event.event_type + ' ' + ctx.attempt + '\\n');
  }, null, null, ${String(stopOnError)});
}
`;
}

async function writePlugin(h: Harness, file: string, source: string): Promise<string> {
  const path = join(h.plugins, file);
  await writeFile(path, source);
  await chmod(path, 0o644);
  return path;
}

async function shot(h: Harness, code: string): Promise<number> {
  const project = await h.sg.findOne('Project', [], ['id']);
  assert.ok(project);
  const s = await h.sg.create('Shot', { code, project: { type: 'Project', id: project['id'] } });
  return s['id'];
}

const statusJson = z.object({
  plugins: z.array(z.object({ plugin: z.string(), active: z.boolean(), cursor: z.number().nullable(), lag: z.number().nullable(), lastError: z.string().nullable() })),
});
const dlqJson = z.array(z.object({ id: z.number(), pluginId: z.string(), eventId: z.number(), status: z.enum(['dead', 'retry']) }));

describe('misbehaving plugins next to a good one', () => {
  it('hanging, throwing (stopOnError), syntax-error and removed plugins: the good one is unaffected and every state is right', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'good.mjs');
      await addPlugin(h, 'recorder.mjs', 'doomed.mjs');
      await writePlugin(h, 'hang.mjs', pluginSource('hang', "if (ctx.event.meta?.new_value === 'ip') for (;;) {}", false));
      await writePlugin(h, 'stopper.mjs', pluginSource('stopper', "if (ctx.event.meta?.new_value === 'ip') throw new Error('status changes are broken');"));
      await writePlugin(h, 'broken.mjs', 'export function registerCallbacks(reg) {\n  reg.registerCallback(\n');
      const yaml = await writeYaml(h);
      const daemon = await runDaemon(h.config({ plugins: { overrides: { hang: { callbackTimeoutMs: 1000 } } } }));
      try {
        const start = daemon.status().newestEventId;
        const byName = (n: string) => daemon.status().plugins.find((p) => p.name === n);
        await waitFor('broken.mjs to fail loading', () => byName('broken')?.status === 'load-failed');
        assert.match(byName('broken')?.lastError ?? '', /./);

        const id = await shot(h, 'bad');
        await h.sg.update('Shot', id, { sg_status_list: 'ip' });
        const statusEvent = await newestEventId(h);
        await h.sg.update('Shot', id, { description: 'after' });
        const d = await newestEventId(h);

        await waitFor('good and hang to pass the last event', async () => {
          const by = idsByPlugin(await h.records());
          return (by.get('good') ?? []).includes(d) && (by.get('hang') ?? []).includes(d);
        });
        // Hanging callback: timed out, thread replaced, event skipped (stopOnError false), later events processed.
        // A reload shows 'draining' for a moment: wait for the plugin to settle.
        await waitFor('the hanging plugin running again', () => byName('hang')?.status === 'running' || undefined);
        const hang = byName('hang');
        assert.ok((hang?.failed ?? 0) >= 1);
        assert.ok(!(idsByPlugin(await h.records()).get('hang') ?? []).includes(statusEvent));

        // Throwing callback with stopOnError: deactivated, cursor frozen before the failed event.
        await waitFor('stopper to be deactivated', () => byName('stopper')?.status === 'deactivated');
        assert.equal(byName('stopper')?.lastEventId, statusEvent - 1);
        const st = await waitFor('`sgeventd status` to show the frozen plugin', async () => {
          const r = await runCli(['status', '-c', yaml, '--json'], childEnv(h));
          assert.equal(r.code, 0, r.stderr);
          const row = statusJson.parse(JSON.parse(r.stdout)).plugins.find((p) => p.plugin.endsWith('stopper'));
          return row && !row.active ? row : undefined;
        });
        assert.equal(st.cursor, statusEvent - 1);
        assert.ok((st.lag ?? 0) >= d - statusEvent + 1, 'status shows how far behind it is');
        assert.match(st.lastError ?? '', /status changes are broken/);

        // The hang's skipped event is a dead letter.
        const dl = await waitFor('the dead letter of the hanging callback', async () => {
          const r = await runCli(['dlq', 'ls', '-c', yaml, '--json'], childEnv(h));
          return dlqJson.parse(JSON.parse(r.stdout)).find((x) => x.pluginId.endsWith('hang'));
        });
        assert.equal(dl.eventId, statusEvent);

        // Fix the throwing plugin: it replays from the failed event.
        await writePlugin(h, 'stopper.mjs', pluginSource('stopper-fixed', ''));
        await waitFor('the fixed plugin to catch up', async () => (idsByPlugin(await h.records()).get('stopper-fixed') ?? []).includes(d));
        assert.equal(idsByPlugin(await h.records()).get('stopper-fixed')?.[0], statusEvent, 'replays from the failed event');
        await waitFor('the fixed plugin running', () => byName('stopper')?.status === 'running' || undefined);

        // Fix the syntax error: it loads and runs.
        await writePlugin(h, 'broken.mjs', pluginSource('broken-fixed', ''));
        await waitFor('the fixed syntax-error plugin to run', async () => (idsByPlugin(await h.records()).get('broken-fixed') ?? []).includes(d));
        await waitFor('the fixed syntax-error plugin running', () => byName('broken')?.status === 'running' || undefined);

        // Remove a plugin while running.
        await unlink(join(h.plugins, 'doomed.mjs'));
        await waitFor('doomed to be removed', () => byName('doomed')?.status === 'removed');
        await h.sg.update('Shot', id, { description: 'after removal' });
        const e = await newestEventId(h);
        await waitFor('good to pass the event after the removal', async () => (idsByPlugin(await h.records()).get('good') ?? []).includes(e));
        await waitFor('broken-fixed too', async () => (idsByPlugin(await h.records()).get('broken-fixed') ?? []).includes(e));
        const by = idsByPlugin(await h.records());
        assert.ok(!(by.get('doomed') ?? []).includes(e), 'a removed plugin gets nothing');
        assert.deepEqual(by.get('doomed'), Array.from({ length: d - start }, (_, i) => start + 1 + i));
        assert.deepEqual(by.get('good'), Array.from({ length: e - start }, (_, i) => start + 1 + i), 'the good plugin saw every event once, in order');
      } finally {
        await daemon.stop();
      }
      const store = await openSqliteState(join(h.dir, 'state.db'));
      try {
        const states = new Map((await store.loadPlugins()).map((s) => [s.name, s]));
        assert.equal(states.get('doomed')?.lastEventId, (await newestEventId(h)) - 1, 'the removed plugin keeps its cursor');
        assert.equal(states.get('good')?.lastEventId, await newestEventId(h));
        assert.equal(states.get('stopper')?.active, true);
        assert.equal(states.get('stopper')?.lastEventId, await newestEventId(h));
        assert.ok(states.has('broken'));
        assert.equal(states.get('hang')?.id, pluginId({ folder: h.plugins, name: 'hang' }));
      } finally {
        await store.close();
      }
    } finally {
      await h.close();
    }
  });

  it('stopOnError false: the failing event is skipped into the dead letters, and `sgeventd dlq retry` runs it again', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'good.mjs');
      const failFlag = `${h.record}.fail`;
      await writeFile(failFlag, '');
      await writePlugin(h, 'flaky.mjs', pluginSource('flaky', "if (existsSync(file + '.fail') && ctx.event.meta?.new_value === 'ip') throw new Error('flaky');", false));
      const yaml = await writeYaml(h);
      const daemon = await runDaemon(h.config());
      try {
        const id = await shot(h, 'flaky');
        await h.sg.update('Shot', id, { sg_status_list: 'ip' });
        const statusEvent = await newestEventId(h);
        await h.sg.update('Shot', id, { description: 'next' });
        const d = await newestEventId(h);
        await waitFor('flaky to pass the failed event', async () => (idsByPlugin(await h.records()).get('flaky') ?? []).includes(d));
        assert.ok(!(idsByPlugin(await h.records()).get('flaky') ?? []).includes(statusEvent));
        const letter = await waitFor('the dead letter', async () => {
          const r = await runCli(['dlq', 'ls', '-c', yaml, '--json'], childEnv(h));
          assert.equal(r.code, 0, r.stderr);
          return dlqJson.parse(JSON.parse(r.stdout)).find((x) => x.eventId === statusEvent);
        });
        assert.equal(letter.status, 'dead');
        await waitFor('the flaky plugin running', () => daemon.status().plugins.find((p) => p.name === 'flaky')?.status === 'running' || undefined);

        await rm(failFlag);
        const retry = await runCli(['dlq', 'retry', '-c', yaml, String(letter.id)], childEnv(h));
        assert.equal(retry.code, 0, retry.stderr);
        await waitFor('the retried event to reach the plugin', async () => (idsByPlugin(await h.records()).get('flaky') ?? []).includes(statusEvent));
        await waitFor('the dead letter to be resolved', async () => {
          const r = await runCli(['dlq', 'ls', '-c', yaml, '--json'], childEnv(h));
          return dlqJson.parse(JSON.parse(r.stdout)).length === 0;
        });
        const good = idsByPlugin(await h.records()).get('good') ?? [];
        assert.ok(good.includes(statusEvent) && good.includes(d));
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
