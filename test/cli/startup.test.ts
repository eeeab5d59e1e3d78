// Commands that only answer a question load only what they need: the CLI's
// surface (cli/commands.ts) imports each command's code when it runs, so
// `--version`, `status` and `plugin ...` never load the daemon, the plugin
// hosts, the local site or Toolkit. Checked on the modules a real `sgeventd`
// process loads (a loader hook preloaded with --import records them), never
// on time: timings are in bench/startup.bench.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.ts';
import { claimPidFile } from '../../src/cli/pidfile.ts';
import { listPlugins } from '../../src/cli/plugin.ts';
import { startStatusServer } from '../../src/daemon/index.ts';
import { daemonBed, onCleanup, tempDir, waitFor, withDaemon, withSite, type Cleanup } from '../support/index.ts';

const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));
const TRACE = fileURLToPath(new URL('../fixtures/cli/trace-modules.mjs', import.meta.url));
const SRC = new URL('../../src/', import.meta.url).href;

interface TracedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Loaded files of src/, relative to it (`cli/main.ts`). */
  ours: string[];
  /** Packages loaded from node_modules, by name. */
  packages: Set<string>;
}

/** Runs `sgeventd ...args` with the module trace on and returns what it printed and loaded. */
async function traced(t: Cleanup, args: string[], env: NodeJS.ProcessEnv = {}): Promise<TracedRun> {
  const out = join(tempDir(t, 'sgeventd-trace-'), 'modules.txt');
  const child = spawn(process.execPath, ['--import', TRACE, BIN, ...args], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env, SGEVENTD_TRACE_MODULES: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const urls = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  const ours = urls.filter((u) => u.startsWith(SRC)).map((u) => u.slice(SRC.length));
  const packages = new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));
  return { code, stdout, stderr, ours, packages };
}

/** The daemon's heavy parts, which no read-only command needs. */
const HEAVY_FOLDERS = ['dispatch/', 'hosts/', 'site/', 'toolkit/', 'cluster/', 'source/', 'pyrpc/', 'logging/', 'plugins/'];
const HEAVY_PACKAGES = ['pino', 'prom-client', 'nodemailer', '@nats-io/transport-node', 'amaro'];

function assertLight(run: TracedRun, what: string): void {
  const heavy = run.ours.filter((f) => HEAVY_FOLDERS.some((d) => f.startsWith(d)) || (f.startsWith('daemon/') && f !== 'daemon/url-file.ts' && f !== 'daemon/site-connection.ts'));
  assert.deepEqual(heavy, [], `${what} loaded the daemon's modules`);
  assert.deepEqual(HEAVY_PACKAGES.filter((p) => run.packages.has(p)), [], `${what} loaded packages it does not need`);
}

describe('start-up: each command loads only its own code', () => {
  it('--version loads the CLI surface and commander, nothing else', async (t) => {
    const run = await traced(t, ['--version']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), '0.1.0');
    assert.ok(run.ours.includes('cli/commands.ts'), 'the trace sees our modules');
    assert.deepEqual(run.ours.filter((f) => !f.startsWith('cli/') && !f.startsWith('shared/')), []);
    assert.deepEqual(run.ours.filter((f) => f.startsWith('cli/')).sort(), ['cli/commands.ts', 'cli/main.ts', 'cli/options.ts']);
    assert.deepEqual([...run.packages], ['commander']);
  });

  it('--help lists every command without loading any of them', async (t) => {
    const run = await traced(t, ['--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const c of ['site', 'migrate', 'dlq', 'foreground', 'start', 'stop', 'restart', 'status', 'check', 'replay', 'plugin', 'demo', 'toolkit', 'cluster']) {
      assert.match(run.stdout, new RegExp(`^  ${c}\\b`, 'm'), `${c} is listed`);
    }
    assert.deepEqual(run.ours.filter((f) => !f.startsWith('shared/')).sort(), ['cli/commands.ts', 'cli/main.ts', 'cli/options.ts']);
  });

  it('status and plugin ls/enable/disable against a running daemon: answered without loading the daemon, hosts or site', async (t) => {
    const h = daemonBed(t, await withSite(t));
    h.addPlugin('recorder.mjs');
    const file = h.writeYaml({ stateFlushMs: 50 }, {}, { http: { port: 0 } });
    const config = await loadConfig(file);
    onCleanup(t, claimPidFile(config.daemon.pidFile));
    const daemon = await withDaemon(t, config);
    const http = await startStatusServer(daemon, config);
    assert.ok(http);
    onCleanup(t, () => http.stop());
    const e1 = await h.site.newShotEvent('startup1');
    await waitFor(() => h.records().some((r) => r[0] === 'recorder' && r[1] === String(e1)), 'the plugin to see the shot');
    await waitFor(() => daemon.status().plugins.some((p) => p.name === 'recorder' && (p.lastEventId ?? 0) >= e1), 'the daemon to report the cursor');

    const status = await traced(t, ['status', '-c', file, '--json'], h.childEnv());
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as { source: string; plugins: Array<{ plugin: string; state: string }> };
    assert.equal(doc.source, 'daemon', 'status asked the running daemon');
    assert.deepEqual(doc.plugins.map((p) => [p.plugin.split('/').at(-1), p.state]), [['recorder', 'running']]);
    assertLight(status, 'status');
    assert.equal(status.packages.has('undici'), false, 'asking the daemon needs no HTTP client package');
    assert.equal(status.ours.includes('daemon/site-connection.ts'), false, 'nor the site connection');

    await waitFor(async () => (await listPlugins(file)).some((p) => p.plugin.endsWith('recorder') && p.cursor !== null), 'the state file to hold the plugin');
    const ls = await traced(t, ['plugin', 'ls', '-c', file], h.childEnv());
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^\S+recorder\tactive\t\d+\t0\t$/m);
    assertLight(ls, 'plugin ls');
    assert.equal(ls.packages.has('undici'), false);

    const off = await traced(t, ['plugin', 'disable', 'recorder', '-c', file], h.childEnv());
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^disabled \S+recorder$/m);
    assertLight(off, 'plugin disable');
    const on = await traced(t, ['plugin', 'enable', 'recorder', '-c', file], h.childEnv());
    assert.equal(on.code, 0, on.stderr);
    assertLight(on, 'plugin enable');
  });

  it('status with no daemon reads the site and the state file, still without the daemon, hosts or site server', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    const file = h.writeYaml();
    const newest = await site.newestEventId();
    const run = await traced(t, ['status', '-c', file, '--json'], h.childEnv());
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as { source: string; newest: number | null; running: number | null };
    assert.deepEqual([doc.source, doc.running, doc.newest], ['state', null, newest]);
    assertLight(run, 'status without a daemon');
  });
});
