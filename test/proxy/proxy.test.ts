// Every connection to the site honours `site.proxy` and `site.timeoutMs`:
// plugin threads' `sg`, unchanged Python plugins' `sg` (through the api3
// stand-in, which tunnels as the official client does) and the `sg` of a
// Python plugin running in a Toolkit runtime. A real proxy on loopback
// counts what went through it.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { daemonDefaults } from '../../src/config/index.ts';
import { PythonPluginHost, WorkerPluginHost, type ProcessResult } from '../../src/hosts/index.ts';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { daemonBed, tempDir, waitFor, withDaemon, withProxy, withSite, within, type TestSite } from '../support/index.ts';
import { writeConfig, storedZip } from '../fixtures/toolkit/fake-cores.ts';
import { PYTHON } from '../toolkit/helpers.ts';
import { makeEvent } from '../hosts/js/helpers.ts';

const API3 = join(import.meta.dirname, '..', 'fixtures', 'hosts', 'api3');
const API3_SOURCE = readFileSync(join(API3, 'shotgun_api3', '__init__.py'), 'utf8');
// Python plugins (and runtimes) import the stand-in from the environment they inherit.
process.env['PYTHONPATH'] = API3;

/** A TS plugin that writes `description` on every new Shot. */
const TS_PLUGIN = `
export function registerCallbacks(reg) {
  reg.registerCallback('${DEFAULT_SCRIPT.name}', '${DEFAULT_SCRIPT.key}', async (ctx) => {
    await ctx.sg.update('Shot', ctx.event.entity.id, { description: 'via ts' });
  }, { Shotgun_Shot_New: null });
}
`;

/** An unchanged shotgunEvents plugin that writes `description` on every new Shot (SGEVENTD_TOOLKIT: run in the project's runtime). */
const pyPlugin = (label: string, toolkit = false): string => `
${toolkit ? 'SGEVENTD_TOOLKIT = True\n' : ''}
def registerCallbacks(reg):
    reg.registerCallback("${DEFAULT_SCRIPT.name}", "${DEFAULT_SCRIPT.key}", onNew, {"Shotgun_Shot_New": None})


def onNew(sg, logger, event, args):
    sg.update("Shot", event["entity"]["id"], {"description": "${label}"})
`;

function siteSection(site: TestSite, extra: Record<string, unknown>): Record<string, unknown> {
  return { site: { url: site.url, script: { name: DEFAULT_SCRIPT.name, key: DEFAULT_SCRIPT.key }, connRetrySleepMs: 50, maxConnRetries: 3, ...extra } };
}

async function descriptionOf(site: TestSite, shot: number): Promise<unknown> {
  return (await site.sg.findOne('Shot', [['id', 'is', shot]], ['description']))?.['description'];
}

describe('site.proxy reaches every sg', () => {
  for (const kind of ['ts', 'py'] as const) {
    it(`${kind === 'ts' ? 'a TS plugin' : 'an unchanged Python plugin'}'s sg.update goes through the proxy to the site`, async (t) => {
      const site = await withSite(t);
      const proxy = await withProxy(t);
      const bed = daemonBed(t, site);
      writeFileSync(join(bed.plugins, kind === 'ts' ? 'writer.ts' : 'writer.py'), kind === 'ts' ? TS_PLUGIN : pyPlugin('via py'), { mode: 0o644 });
      const daemon = await withDaemon(t, bed.config(siteSection(site, { proxy: proxy.url, timeoutMs: 30_000 })));
      await waitFor(() => daemon.status().plugins.some((p) => p.status === 'running'), 'the plugin loaded');
      const shot = await site.sg.create('Shot', { code: `proxied-${kind}`, project: await site.firstProject() });
      await waitFor(async () => (await descriptionOf(site, Number(shot['id']))) === `via ${kind}`, 'the plugin wrote the shot', 60_000);
      assert.ok(proxy.methods().includes('update'), `the update went through the proxy: ${proxy.methods().join(',')}`);
      if (kind === 'ts') assert.ok(proxy.forwarded > 0, 'undici forwards plain-http requests in absolute form');
      else {
        assert.ok(proxy.tunnels > 0, 'shotgun_api3 tunnels with CONNECT');
        assert.ok(proxy.methods().includes('info'), 'the Python sg connected (info) through the proxy');
      }
    });
  }

  it('a Python plugin running in a Toolkit runtime writes through the proxy', async (t) => {
    const site = await withSite(t);
    const proxy = await withProxy(t);
    const bed = daemonBed(t, site);
    const project = await site.firstProject();
    const config = writeConfig(join(bed.dir, 'configs', 'p'), { core: { localized: { version: 'v1.0.0-proxy', api3Version: '3.0.0' } }, projectId: project.id });
    // The core's own shotgun_api3 (first on the runtime's sys.path) is the stand-in, as tk-core v0.23.7+ bundles the real one.
    writeFileSync(join(config, 'install', 'core', 'requirements', 'pkgs.zip'), storedZip({ 'shotgun_api3/__init__.py': API3_SOURCE }));
    const pc = await site.sg.findOne('PipelineConfiguration', [['project', 'is', project], ['code', 'is', 'Primary']], ['id']);
    assert.ok(pc, 'the demo project has a Primary configuration');
    await site.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: config, mac_path: null, windows_path: null, plugin_ids: null, descriptor: null });
    writeFileSync(join(bed.plugins, 'tk_writer.py'), pyPlugin('via toolkit', true), { mode: 0o644 });
    const daemon = await withDaemon(t, bed.config(siteSection(site, { proxy: proxy.url, timeoutMs: 30_000 })));
    await waitFor(() => daemon.status().plugins.some((p) => p.status === 'running'), 'the plugin loaded');
    const shot = await site.sg.create('Shot', { code: 'proxied-tk', project });
    await waitFor(async () => (await descriptionOf(site, Number(shot['id']))) === 'via toolkit', 'the plugin wrote the shot from its runtime', 60_000);
    assert.ok(daemon.status().runtimes.length > 0, 'the event ran in a Toolkit runtime');
    assert.ok(proxy.methods().includes('update'), `the update went through the proxy: ${proxy.methods().join(',')}`);
  });
});

const OPTIONS = { attempt: 1, replay: false };
const silent = pino({ level: 'silent' });

function pythonHost(t: TestContext, siteUrl: string, file: string, o: { proxy?: string; siteTimeoutMs?: number; idleCloseMs?: number }): PythonPluginHost {
  const host = new PythonPluginHost({
    file, name: 'writer', siteUrl, useSessionUuid: false, python: PYTHON, callbackTimeoutMs: 60_000,
    restartBudget: daemonDefaults().restartBudget, logger: silent, env: { ...process.env, PYTHONPATH: API3 }, ...o,
  });
  t.after(() => host.close());
  return host;
}

function shotEvent(id: number, shot: number): ReturnType<typeof makeEvent> {
  return makeEvent(id, 'Shotgun_Shot_New', null, { entity: { type: 'Shot', id: shot } });
}

describe('site.timeoutMs bounds every sg', () => {
  it('a TS plugin\'s sg gives SG_TIMEOUT when the site answers slower than site.timeoutMs', async (t) => {
    const site = await withSite(t, { seed: 'demo', latencyMs: 2000 });
    const dir = tempDir(t, 'sgeventd-timeout-');
    const file = join(dir, 'writer.ts');
    writeFileSync(file, TS_PLUGIN);
    const host = new WorkerPluginHost({
      file, folder: dir, name: 'writer', siteUrl: site.url, siteTimeoutMs: 200, useSessionUuid: false, callbackTimeoutMs: 60_000,
      logger: silent, restartBudget: daemonDefaults().restartBudget,
    });
    t.after(() => host.close());
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const result = await within(host.process(shotEvent(1, 1)), 30_000, 'event');
    assert.equal(result.outcome, 'deactivate', JSON.stringify(result));
    assert.equal(result.error?.code, 'SG_TIMEOUT');
  });

  it('an unchanged Python plugin\'s sg times out after site.timeoutMs (the site slow behind the proxy)', async (t) => {
    const site = await withSite(t);
    const proxy = await withProxy(t);
    const dir = tempDir(t, 'sgeventd-timeout-');
    const file = join(dir, 'writer.py');
    writeFileSync(file, pyPlugin('slow'));
    const host = pythonHost(t, site.url, file, { proxy: proxy.url, siteTimeoutMs: 300 });
    const loaded = await within(host.load(), 30_000, 'load');
    assert.ok(loaded.ok, JSON.stringify(loaded));
    proxy.delayMs = 3000;
    const result: ProcessResult = await within(host.process(shotEvent(1, 1), OPTIONS), 30_000, 'event');
    assert.equal(result.outcome, 'deactivate', JSON.stringify(result));
    assert.equal(result.error?.name, 'TimeoutError', JSON.stringify(result.error));
  });
});

describe('site.idleCloseMs', () => {
  // The site closes a connection idle for 1 s; the proxy passes the close on and counts it.
  for (const idleCloseMs of [300, 600_000]) {
    const guarded = idleCloseMs < 1000;
    it(`${guarded ? 'closes a Python sg idle longer than idleCloseMs, so the next event succeeds on a fresh connection' : 'without it (idleCloseMs longer than the idle gap), the stand-in raises on the connection the site closed'}`, async (t) => {
      const site = await withSite(t, { seed: 'demo', keepAliveMs: 1000 });
      const proxy = await withProxy(t);
      const dir = tempDir(t, 'sgeventd-idle-');
      const file = join(dir, 'writer.py');
      writeFileSync(file, pyPlugin('after idle'));
      const host = pythonHost(t, site.url, file, { proxy: proxy.url, idleCloseMs });
      assert.ok((await within(host.load(), 30_000, 'load')).ok);
      const shot = Number((await site.sg.create('Shot', { code: `idle-${idleCloseMs}`, project: await site.firstProject() }))['id']);
      assert.equal((await within(host.process(shotEvent(1, shot), OPTIONS), 30_000, 'first event')).outcome, 'ok');
      const tunnels = proxy.tunnels;
      await waitFor(() => proxy.closedTunnels >= tunnels, 'the site closed the idle connection', 30_000);
      const second = await within(host.process(shotEvent(2, shot), OPTIONS), 30_000, 'event after the idle gap');
      if (guarded) {
        assert.equal(second.outcome, 'ok', JSON.stringify(second));
        assert.equal(proxy.tunnels, tunnels + 1, 'a fresh connection');
        assert.equal(await descriptionOf(site, shot), 'after idle');
      } else {
        assert.equal(second.outcome, 'deactivate', JSON.stringify(second));
        assert.ok(['BrokenPipeError', 'ConnectionResetError', 'RemoteDisconnected'].includes(second.error?.name ?? ''), JSON.stringify(second.error));
        assert.equal(proxy.tunnels, tunnels, 'nothing retried on a new connection');
      }
    });
  }
});
