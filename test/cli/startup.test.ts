// Commands that only answer a question load only what they need: the CLI's
// surface (cli/commands.ts) imports each command's code when it runs, so
// `--version`, `status` and `plugin ...` never load the daemon, the plugin
// hosts, the local site or Toolkit. Checked on the modules a real `sgeventd`
// process loads (a loader hook preloaded with --import records them), never
// on time: timings are in bench/startup.bench.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.ts';
import { claimPidFile } from '../../src/cli/pidfile.ts';
import { listPlugins } from '../../src/cli/plugin.ts';
import { startStatusServer } from '../../src/daemon/index.ts';
import { readStatusReply } from '../../src/cli/status-reply.ts';
import { SgeventdError } from '../../src/shared/index.ts';
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

/** A daemon child's start on a machine whose cores are shared (it loads about 800 modules). */
const DAEMON_WAIT_MS = 120_000;

/** The daemon's heavy parts, which no read-only command needs. */
const HEAVY_FOLDERS = ['dispatch/', 'hosts/', 'site/', 'toolkit/', 'cluster/', 'source/', 'pyrpc/', 'logging/', 'plugins/'];
const HEAVY_PACKAGES = ['pino', 'prom-client', 'nodemailer', '@nats-io/transport-node', 'amaro'];

function assertLight(run: TracedRun, what: string): void {
  const heavy = run.ours.filter((f) => HEAVY_FOLDERS.some((d) => f.startsWith(d)) || (f.startsWith('daemon/') && f !== 'daemon/url-file.ts' && f !== 'daemon/site-connection.ts'));
  assert.deepEqual(heavy, [], `${what} loaded the daemon's modules`);
  assert.deepEqual(HEAVY_PACKAGES.filter((p) => run.packages.has(p)), [], `${what} loaded packages it does not need`);
}

/**
 * The config's schema and zod: a command that only needs the config's address
 * (config/daemon-address.ts) loads neither, nor the `yaml` package for a
 * config in plain YAML (config/plain-yaml.ts), as the harness writes it.
 */
function assertNoSchema(run: TracedRun, what: string): void {
  assert.equal(run.packages.has('zod'), false, `${what} loaded zod`);
  assert.equal(run.packages.has('yaml'), false, `${what} loaded the yaml package`);
  assert.deepEqual(run.ours.filter((f) => ['config/schema.ts', 'config/parse.ts', 'config/compile.ts', 'http/status.ts'].includes(f)), [], `${what} loaded the config's schema`);
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
    assertNoSchema(status, 'status against a running daemon');
    assert.equal(status.packages.has('undici'), false, 'asking the daemon needs no HTTP client package');
    assert.equal(status.ours.includes('daemon/site-connection.ts'), false, 'nor the site connection');

    await waitFor(async () => (await listPlugins(file)).some((p) => p.plugin.endsWith('recorder') && p.cursor !== null), 'the state file to hold the plugin');
    const ls = await traced(t, ['plugin', 'ls', '-c', file], h.childEnv());
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^\S+recorder\tactive\t\d+\t0\t$/m);
    assertLight(ls, 'plugin ls');
    assertNoSchema(ls, 'plugin ls');
    assert.equal(ls.packages.has('undici'), false);

    const off = await traced(t, ['plugin', 'disable', 'recorder', '-c', file], h.childEnv());
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^disabled \S+recorder$/m);
    assertLight(off, 'plugin disable');
    assertNoSchema(off, 'plugin disable');
    const on = await traced(t, ['plugin', 'enable', 'recorder', '-c', file], h.childEnv());
    assert.equal(on.code, 0, on.stderr);
    assertLight(on, 'plugin enable');

    // The same config with its pid file written in a form the plain reader leaves to
    // the yaml package (a \u escape): read the same, so the running daemon is found.
    const escaped = join(tempDir(t, 'sgeventd-escaped-'), 'sgeventd.yaml');
    const text = readFileSync(file, 'utf8');
    const pidLine = /^(\s*pidFile: ).*$/m.exec(text);
    assert.ok(pidLine);
    writeFileSync(escaped, text.replace(pidLine[0], `${pidLine[1]}${JSON.stringify(config.daemon.pidFile).replaceAll('/', '\\u002F')}`));
    const viaYaml = await traced(t, ['status', '-c', escaped, '--json'], h.childEnv());
    assert.equal(viaYaml.code, 0, viaYaml.stderr);
    assert.equal((JSON.parse(viaYaml.stdout) as { source: string }).source, 'daemon', 'status found the daemon through the escaped pid file path');
    assert.equal(viaYaml.packages.has('yaml'), true, 'the escape was left to the yaml package');
    assert.equal(viaYaml.packages.has('zod'), false);
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

  it('a config whose address keys are wrong is still refused with the full validation\'s error, naming the key', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const file = h.writeYaml({ pidFile: 5 });
    for (const args of [['status', '-c', file], ['plugin', 'ls', '-c', file], ['plugin', 'disable', 'x', '-c', file]]) {
      const run = await traced(t, args, h.childEnv());
      assert.notEqual(run.code, 0, `${args.join(' ')} refused the config`);
      assert.match(run.stderr, /\[CONFIG_INVALID\]/, args.join(' '));
      assert.match(run.stderr, /daemon\.pidFile/, args.join(' '));
    }
    const unset = h.writeYaml({}, {}, { http: { enabled: false, token: '${SGEVENTD_NO_SUCH_VARIABLE}' } });
    const run = await traced(t, ['status', '-c', unset], h.childEnv());
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /SGEVENTD_NO_SUCH_VARIABLE/);
    assert.match(run.stderr, /\[CONFIG_INVALID\]/);
  });

  it('status refuses a daemon answer whose printed fields have the wrong type (DAEMON_API_FAILED naming the field)', () => {
    const plugin = { id: 'f/p', status: 'running', lastEventId: 3, backlog: 0, lag: 0, processed: 1, failed: 0, lastError: null };
    assert.deepEqual(readStatusReply({ newestEventId: 3, plugins: [plugin] }).plugins.map((p) => [p.id, p.inFlight]), [['f/p', null]]);
    for (const [doc, field] of [
      [{ newestEventId: '3', plugins: [] }, 'newestEventId'],
      [{ newestEventId: 3 }, 'plugins'],
      [{ newestEventId: 3, plugins: [{ ...plugin, lag: 'x' }] }, 'plugins[0].lag'],
      [{ newestEventId: 3, plugins: [{ ...plugin, inFlight: null }] }, 'plugins[0].inFlight'],
      [{ newestEventId: 3, plugins: [7] }, 'plugins[0]'],
    ] as const) {
      assert.throws(() => readStatusReply(doc), (err: unknown) => err instanceof SgeventdError && err.code === 'DAEMON_API_FAILED' && (err.details as { field?: string }).field === field, field);
    }
  });
});

/** `sgeventd foreground` with every module it loads traced into `out`; killed at the end of the test. */
function tracedDaemon(t: Cleanup, env: NodeJS.ProcessEnv, file: string, from: number, out: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', TRACE, BIN, 'foreground', '--no-console', '-c', file, '--from', String(from)], {
    env: { ...env, SGEVENTD_TRACE_MODULES: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, stderr: () => stderr };
}

describe('start-up: the daemon loads what its config turns on', () => {
  it('without mail and without a console: no SMTP client, no console formatter, and only the date functions log rotation uses', async (t) => {
    const h = daemonBed(t, await withSite(t));
    h.addPlugin('recorder.mjs');
    const file = h.writeYaml({}, {}, { logging: { dir: h.logs, level: 'info' } });
    const from = await h.site.newestEventId();
    const out = join(tempDir(t, 'sgeventd-trace-'), 'modules.txt');
    const { child, exited, stderr } = tracedDaemon(t, h.childEnv(), file, from, out);
    const e1 = await h.site.newShotEvent('startup-daemon');
    await waitFor(() => h.records().some((r) => r[0] === 'recorder' && r[1] === String(e1)), 'the plugin to see the shot', DAEMON_WAIT_MS);
    // The engine's log file was written through the rotating stream.
    await waitFor(() => h.logLines().some((l) => l['msg'] === 'sgeventd running'), 'the engine log to reach its file', DAEMON_WAIT_MS);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr());
    const urls = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    const packages = new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));
    assert.ok(packages.has('pino-roll'), 'the trace sees the daemon\'s packages');
    assert.equal(packages.has('nodemailer'), false, 'nodemailer loaded with mail off');
    assert.equal(packages.has('pino-pretty'), false, 'pino-pretty loaded without a console');
    const dateFns = urls.filter((u) => u.includes('/node_modules/date-fns/'));
    // format and parse bring their locale and parsers (about 85 files); the whole package is about 300.
    assert.ok(dateFns.length > 0 && dateFns.length < 150, `date-fns: ${dateFns.length} files`);
    assert.equal(dateFns.some((u) => u.endsWith('/date-fns/index.cjs') || u.endsWith('/date-fns/index.js')), false, 'date-fns\'s index loaded');
  });

  it('prom-client loads at the first /metrics request (or recording), not with the daemon, and no count is lost', async (t) => {
    const h = daemonBed(t, await withSite(t));
    h.addPlugin('recorder.mjs');
    const file = h.writeYaml({}, {}, { logging: { dir: h.logs, level: 'info' }, http: { port: 0 } });
    const config = await loadConfig(file);
    const from = await h.site.newestEventId();
    const out = join(tempDir(t, 'sgeventd-trace-'), 'modules.txt');
    const { child, exited, stderr } = tracedDaemon(t, h.childEnv(), file, from, out);
    const loaded = (): Set<string> => new Set(readFileSync(out, 'utf8').split('\n').map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));
    await waitFor(() => h.logLines().some((l) => l['msg'] === 'sgeventd running'), 'the daemon to run', DAEMON_WAIT_MS);
    // The log file opened once the plugin was starting: what was logged before it is there, in order.
    const messages = h.logLines().map((l) => l['msg']);
    assert.ok(messages.indexOf('sgeventd starting') >= 0 && messages.indexOf('sgeventd starting') < messages.indexOf('sgeventd running'), messages.join(' | '));
    const url = await waitFor(() => {
      try {
        return readFileSync(`${config.daemon.pidFile}.url`, 'utf8').trim();
      } catch {
        return '';
      }
    }, 'the status server URL', DAEMON_WAIT_MS);
    // Running, its plugin loaded, its status served: prom-client is not needed yet.
    const status = await fetch(`${url}/api/status`);
    assert.equal(status.status, 200);
    assert.ok(loaded().has('pino-roll'), 'the trace sees the daemon\'s packages');
    assert.equal(loaded().has('prom-client'), false, 'prom-client loaded before anything was recorded or asked');
    const first = await fetch(`${url}/metrics`);
    assert.equal(first.status, 200);
    assert.match(await first.text(), /^sgeventd_process_cpu_user_seconds_total /m);
    assert.ok(loaded().has('prom-client'));
    const e1 = await h.site.newShotEvent('metrics-1');
    await waitFor(() => h.records().some((r) => r[0] === 'recorder' && r[1] === String(e1)), 'the plugin to see the shot', DAEMON_WAIT_MS);
    // Every callback the plugin ran is counted (a new shot may make more than one event).
    await waitFor(async () => {
      const counted = /^sgeventd_events_processed_total\{plugin="recorder"\} (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
      return counted !== undefined && Number(counted) === h.records().filter((r) => r[0] === 'recorder').length;
    }, 'every callback counted', DAEMON_WAIT_MS);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr());
  });
});
