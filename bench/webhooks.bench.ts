/**
 * Webhooks (issue 13): what a delivery buys, against the local site over real HTTP.
 *
 * - delivery → callback: 500 changes spread in time (10–40 ms apart); for each
 *   one the bench posts a signed delivery and times it to the moment the
 *   plugin's callback is entered (one clock: `performance.timeOrigin + now()`
 *   on both threads). Polling is at 1000 ms / fallback 5000 ms, so what is
 *   measured is the nudge.
 * - receiver answer time during a 50,000-event catch-up: the daemon is its own
 *   process (`sgeventd foreground`), a second process posts a signed delivery
 *   every 20 ms while the daemon catches up, and times each answer.
 * - site requests per minute while idle: polling at 200 ms and at 1000 ms
 *   (no webhooks) against webhooks (fallback polling at 5000 ms).
 * - local-site write → callback: polling at 1000 ms and 200 ms, and webhooks
 *   sent by the site itself with a 0 ms and a 1000 ms delivery delay.
 *
 * SGEVENTD_BENCH_WEBHOOK_CHANGES (default 500) and
 * SGEVENTD_BENCH_WEBHOOK_CATCHUP (default 50,000) size the runs.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveDaemon, type Daemon } from '../src/daemon/index.ts';
import type { SiteOptions } from '../src/site/index.ts';
import { bulkEvents, makeHarness, type Harness } from '../test/dispatch/harness.ts';
import { spawnDaemon, writeYaml } from '../test/dispatch/child.ts';
import type { BenchResult } from './run.ts';

const CHANGES = Number(process.env['SGEVENTD_BENCH_WEBHOOK_CHANGES'] ?? 500);
const CATCHUP = Number(process.env['SGEVENTD_BENCH_WEBHOOK_CATCHUP'] ?? 50_000);
const CATCHUP_RUNS = Number(process.env['SGEVENTD_BENCH_WEBHOOK_CATCHUP_RUNS'] ?? 3);
const SECRET = 'bench-webhook-secret';
const LATENCY_CHANGES = 60;

// Appends "<id> <epoch ms, sub-ms>" when a callback is entered.
const TIMING_JS = `import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    appendFileSync(process.env.BENCH_TIMES, ctx.event.id + ' ' + (performance.timeOrigin + performance.now()) + '\\n');
  });
}
`;

// Writes marks when the first and the last event of the backlog reach it.
const MARKS_JS = `import { writeFileSync } from 'node:fs';
const first = Number(process.env.BENCH_FIRST), last = Number(process.env.BENCH_LAST), marks = process.env.BENCH_MARKS;
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    if (ctx.event.id === first) writeFileSync(marks + '/first', String(Date.now()));
    if (ctx.event.id === last) writeFileSync(marks + '/last', String(Date.now()));
  });
}
`;

// A second process: a signed delivery every 20 ms until SIGTERM; prints the answer times.
const SENDER_JS = `
import { createHmac, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
const url = new URL(process.env.BENCH_URL), secret = process.env.BENCH_SECRET;
// One kept-alive connection, as a site's sender keeps one: what is timed is the receiver's answer, not connection set-up.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
let id = Number(process.env.BENCH_ID);
const times = [];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
function post(body, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
// The first request is not timed: it opens the connection and warms this process's client.
let warm = false;
while (!stop) {
  const body = JSON.stringify({ data: { id: id + '.1.0', event_log_entry_id: id, event_type: 'Shotgun_Shot_Change', operation: 'update' }, timestamp: new Date().toISOString() });
  const sig = 'sha1=' + createHmac('sha1', secret).update(body).digest('hex');
  const t0 = performance.now();
  const status = await post(body, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-sg-signature': sig, 'x-sg-delivery-id': randomUUID() });
  if (warm) times.push(performance.now() - t0);
  warm = true;
  if (status !== 200) { process.stderr.write('status ' + status + '\\n'); }
  await new Promise((r) => setTimeout(r, 20));
}
agent.destroy();
process.stdout.write(JSON.stringify(times));
`;

const now = (): number => performance.timeOrigin + performance.now();

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

const round = (x: number): number => Math.round(x * 10) / 10;

function sign(body: string): string {
  return `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
}

async function postDelivery(url: string, id: number): Promise<number> {
  const body = JSON.stringify({ data: { id: `${id}.1.0`, event_log_entry_id: id, event_type: 'Shotgun_Shot_Change', operation: 'update' }, timestamp: new Date().toISOString() });
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-sg-signature': sign(body), 'x-sg-delivery-id': randomUUID() } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`the receiver answered ${res.status}`);
  return performance.now() - t0;
}

function readTimes(file: string): Map<number, number> {
  const out = new Map<number, number>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [id, at] = line.split(' ');
    if (id !== undefined && at !== undefined && at !== '') out.set(Number(id), Number(at));
  }
  return out;
}

async function until(what: string, probe: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One Shot, then `write()` updates it in the site's own process and returns the event id. */
function shotWriter(h: Harness): () => number {
  const actor = h.site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const project = h.site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 1').get() as { id: number };
  const shot = h.site.writer.create(actor, 'Shot', [{ field_name: 'code', value: 'bench' }, { field_name: 'project', value: { type: 'Project', id: project.id } }]);
  let n = 0;
  return () => {
    h.site.writer.update(actor, 'Shot', shot.id, [{ field_name: 'description', value: `v${n++}` }]);
    return h.site.store.lastEventId();
  };
}

interface InProcess {
  h: Harness;
  daemon: Daemon;
  webhookUrl: string | null;
  times: string;
  close(): Promise<void>;
}

/** A site and a daemon in this process, with the timing plugin; `extra` merges into the config. */
async function inProcess(siteOptions: SiteOptions, extra: Record<string, unknown>): Promise<InProcess> {
  const h = await makeHarness({ seed: 'demo', ...siteOptions });
  const times = join(h.dir, 'times.txt');
  process.env['BENCH_TIMES'] = times;
  await writeFile(join(h.plugins, 'timing.mjs'), TIMING_JS, { mode: 0o644 });
  const steps: Array<() => Promise<void>> = [];
  const { daemon, webhookUrl } = await serveDaemon({ config: h.config(extra), console: false, logFiles: false, recordUrl: false }, { register: (s) => steps.push(s) });
  await until('the plugin to run', () => daemon.status().plugins.some((p) => p.status === 'running'));
  return {
    h, daemon, webhookUrl, times,
    async close() {
      for (const s of steps.reverse()) await s();
      await h.close();
    },
  };
}

interface ChildRun {
  h: Harness;
  webhookUrl: string;
  times: string;
  close(): Promise<void>;
}

/**
 * A site in this process and `sgeventd foreground` as its own process with
 * the timing plugin, so the daemon's thread shares nothing with the bench;
 * ready once a first change has reached the plugin.
 */
async function childRun(siteOptions: SiteOptions, daemon: Record<string, unknown>, webhooks: boolean, hook: boolean): Promise<ChildRun> {
  const h = await makeHarness({ seed: 'demo', ...siteOptions });
  const times = join(h.dir, 'times.txt');
  await writeFile(join(h.plugins, 'timing.mjs'), TIMING_JS, { mode: 0o644 });
  const port = await freePort();
  const webhookUrl = `http://127.0.0.1:${port}/webhooks/shotgrid`;
  const yaml = await writeYaml(h, daemon, {}, webhooks ? { webhooks: { port, secrets: [SECRET] } } : {});
  const child = spawnDaemon(h, yaml, [], { PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: 'sgeventd-key', BENCH_TIMES: times });
  const close = async (): Promise<void> => {
    await child.stop();
    await h.close();
  };
  try {
    if (hook) h.site.webhooks.add({ url: webhookUrl, secret: SECRET });
    const write = shotWriter(h);
    // Changes before the daemon read the log's newest id never reach it: write until one does.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const warm = write();
      if (webhooks && !hook) await postDelivery(webhookUrl, warm).catch(() => 0);
      const by = Date.now() + 6000;
      while (!readTimes(times).has(warm) && Date.now() < by && child.child.exitCode === null) await sleep(20);
      if (readTimes(times).has(warm)) break;
      if (child.child.exitCode !== null || Date.now() > deadline) throw new Error(`the daemon did not start: ${child.output()}`);
    }
    return { h, webhookUrl, times, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Delivery (posted by the bench) → callback entered, over CHANGES changes spread in time. */
async function deliveryToCallback(): Promise<{ p50: number; p99: number; answerP50: number; answerP99: number }> {
  const run = await childRun({}, { fetchIntervalMs: 1000 }, true, false);
  try {
    const write = shotWriter(run.h);
    const sent = new Map<number, number>();
    const answers: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const id = write();
      sent.set(id, now());
      answers.push(await postDelivery(run.webhookUrl, id));
      await sleep(10 + Math.random() * 30);
    }
    await until('every callback', () => [...sent.keys()].every((id) => readTimes(run.times).has(id)), 60_000);
    const got = readTimes(run.times);
    const lat = [...sent].map(([id, at]) => (got.get(id) ?? NaN) - at);
    return { p50: pct(lat, 50), p99: pct(lat, 99), answerP50: pct(answers, 50), answerP99: pct(answers, 99) };
  } finally {
    await run.close();
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The receiver's answer times while the daemon (its own process) catches up on CATCHUP events. */
async function answerDuringCatchUp(): Promise<{ times: number[]; catchUpS: number }> {
  const h = await makeHarness();
  try {
    const ids = bulkEvents(h.site, CATCHUP);
    const first = ids[0] ?? 0;
    const last = ids.at(-1) ?? 0;
    await writeFile(join(h.plugins, 'marks.mjs'), MARKS_JS, { mode: 0o644 });
    const port = await freePort();
    const yaml = await writeYaml(h, { fetchIntervalMs: 1000 }, { startAt: first - 1 }, { webhooks: { port, secrets: [SECRET] } });
    const daemon = spawnDaemon(h, yaml, [], {
      PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: 'sgeventd-key',
      BENCH_FIRST: String(first), BENCH_LAST: String(last), BENCH_MARKS: h.dir,
    });
    try {
      await until('the first event of the backlog', () => existsSync(join(h.dir, 'first')) || daemon.child.exitCode !== null, 120_000);
      const sender = spawn(process.execPath, ['--input-type=module', '-e', SENDER_JS], {
        env: { PATH: process.env['PATH'], BENCH_URL: `http://127.0.0.1:${port}/webhooks/shotgrid`, BENCH_SECRET: SECRET, BENCH_ID: String(last) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      sender.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((r) => sender.once('exit', () => r()));
      await until('the last event of the backlog', () => existsSync(join(h.dir, 'last')) || daemon.child.exitCode !== null, 300_000);
      sender.kill('SIGTERM');
      await exited;
      const times = JSON.parse(out || '[]') as number[];
      const read = (f: string): number => Number(readFileSync(join(h.dir, f), 'utf8'));
      return { times, catchUpS: (read('last') - read('first')) / 1000 };
    } finally {
      await daemon.stop();
    }
  } finally {
    await h.close();
  }
}

/** api3 requests the site answers per minute while nothing happens. */
async function idleRequestsPerMinute(extra: Record<string, unknown>, windowMs = 15_000): Promise<number> {
  let requests = 0;
  const logger = { debug: () => { requests++; }, info: () => undefined, warn: () => undefined, error: () => undefined };
  const run = await inProcess({ logger }, extra);
  try {
    await sleep(1000);
    const from = requests;
    await sleep(windowMs);
    return ((requests - from) * 60_000) / windowMs;
  } finally {
    await run.close();
  }
}

/** Local-site write → callback entered, LATENCY_CHANGES changes 100–300 ms apart. */
async function writeToCallback(siteOptions: SiteOptions, daemon: Record<string, unknown>, hook: boolean): Promise<{ p50: number; p99: number }> {
  const run = await childRun(siteOptions, daemon, hook, hook);
  try {
    const write = shotWriter(run.h);
    const wrote = new Map<number, number>();
    for (let i = 0; i < LATENCY_CHANGES; i++) {
      const t = now();
      wrote.set(write(), t);
      await sleep(100 + Math.random() * 200);
    }
    await until('every callback', () => [...wrote.keys()].every((id) => readTimes(run.times).has(id)), 60_000);
    const got = readTimes(run.times);
    const lat = [...wrote].map(([id, at]) => (got.get(id) ?? NaN) - at);
    return { p50: pct(lat, 50), p99: pct(lat, 99) };
  } finally {
    await run.close();
  }
}

export async function run(): Promise<BenchResult> {
  const results: Record<string, number | string> = {};
  // The machine may be shared: its load is part of every figure below.
  results['load average (1 min) at the start'] = round(loadavg()[0] ?? NaN);
  const d = await deliveryToCallback();
  results[`delivery → callback p50 (ms, ${CHANGES} changes)`] = round(d.p50);
  results['delivery → callback p99 (ms)'] = round(d.p99);
  results['receiver answer p50 (ms, idle)'] = round(d.answerP50);
  results['receiver answer p99 (ms, idle)'] = round(d.answerP99);

  // A catch-up lasts about 2 s (some 65 answers): the answers of CATCHUP_RUNS of them are pooled, so p99 is not just the slowest one.
  const times: number[] = [];
  const durations: number[] = [];
  for (let i = 0; i < CATCHUP_RUNS; i++) {
    const c = await answerDuringCatchUp();
    times.push(...c.times);
    durations.push(c.catchUpS);
  }
  results[`receiver answer p50 (ms, during a ${CATCHUP}-event catch-up, ${CATCHUP_RUNS} runs pooled)`] = round(pct(times, 50));
  results['receiver answer p99 (ms, during the catch-up)'] = round(pct(times, 99));
  results['receiver answer max (ms, during the catch-up)'] = round(Math.max(...times));
  results['answers timed during the catch-ups'] = times.length;
  results['catch-up duration (s, each run)'] = durations.map(round).join(' ');
  results['load average (1 min) after the catch-up'] = round(loadavg()[0] ?? NaN);

  results['idle site requests/min, polling 200 ms'] = round(await idleRequestsPerMinute({ daemon: { fetchIntervalMs: 200 } }));
  results['idle site requests/min, polling 1000 ms'] = round(await idleRequestsPerMinute({ daemon: { fetchIntervalMs: 1000 } }));
  results['idle site requests/min, webhooks (fallback 5000 ms)'] = round(await idleRequestsPerMinute({ daemon: { fetchIntervalMs: 1000 }, webhooks: { port: 0, secrets: [SECRET] } }));

  for (const [label, siteOptions, daemon, hook] of [
    ['polling 1000 ms', {}, { fetchIntervalMs: 1000 }, false],
    ['polling 200 ms', {}, { fetchIntervalMs: 200 }, false],
    ['webhooks, 0 ms delivery delay', { webhooks: { delayMs: 0 } }, { fetchIntervalMs: 1000 }, true],
    ['webhooks, 1000 ms delivery delay', { webhooks: { delayMs: 1000 } }, { fetchIntervalMs: 1000 }, true],
  ] as const) {
    const r = await writeToCallback(siteOptions, daemon, hook);
    results[`write → callback p50 (ms), ${label}`] = round(r.p50);
    results[`write → callback p99 (ms), ${label}`] = round(r.p99);
  }
  results['load average (1 min) at the end of the run'] = round(loadavg()[0] ?? NaN);
  return {
    name: 'webhooks',
    results,
    notes: [
      'the daemon runs as its own process (sgeventd foreground) in every timed run; the site and the bench\'s own sender run in the bench process; times of day are compared across processes (performance.timeOrigin + now()).',
      'delivery → callback: timed from just before the bench posts the delivery, so it includes the sender\'s side of one loopback request.',
      'the catch-up run: deliveries from a second process every 20 ms over one kept-alive connection (node:http); its first request (which opens the connection) is not timed. On this machine a trivial loopback server answers such a client in p50 1.4 ms, p99 4.4 ms, max 17 ms when idle (Node\'s fetch: 2.4 / 8.1 / 46 ms).',
      'write → callback with webhooks: fallback polling at the default 5000 ms; the site sends each delivery after its transaction commits (these hooks are not batched; a batched one would gather changes that come faster than one per 2 s).',
      'the receiver listens on its own thread and answers there; the main thread hears {atLeastId} by message.',
    ],
  };
}
