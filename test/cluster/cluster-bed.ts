// Three `sgeventd foreground` cluster nodes as child processes, a 3-server
// NATS cluster and the local site; plugins write one line per callback start
// and end (test/fixtures/cluster), and the checks below read those lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { clusterNames, partitionOf, type ClusterNames } from '../../src/cluster/index.ts';
import { statusDocumentSchema, type StatusDocument } from '../../src/http/index.ts';
import { DEFAULT_SCRIPT, type SiteOptions } from '../../src/site/index.ts';
import { onCleanup, runCli, tempDir, waitFor, withSite, type Cleanup, type CliResult, type TestSite } from '../support/index.ts';
import { startNats, type TestNats } from '../support/nats.ts';

const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/cluster/', import.meta.url));

export type ClusterView = NonNullable<StatusDocument['cluster']>;

export interface ClusterBedOptions {
  plugins: string[];
  nodes?: number;
  /** Each callback takes this long (a timer), so kills land mid-callback. */
  workMs?: number;
  lease?: { ttlMs: number; renewMs: number; checkMs: number; marginMs: number };
  /** More plugin files (absolute paths), copied beside `plugins`. */
  pluginFiles?: string[];
  /** Merged into each node's `daemon` section. */
  daemon?: Record<string, unknown>;
  /** More top-level sections of node `i`'s config (`webhooks`, `emails`...). */
  sections?: (i: number) => Record<string, unknown>;
  /** Nodes started with the bed (the others with `start(i)`); default all. */
  initialNodes?: number;
  /** More settings of the `cluster` section (partitions, placement). */
  cluster?: Record<string, unknown>;
  /** The NATS URLs node `i` is given (default: all three); the servers then advertise no client URLs, so a node knows only these. */
  servers?: (i: number, urls: readonly string[]) => string[];
  /** More settings of the plugin folder (watch, watchPollMs...). */
  folder?: Record<string, unknown>;
  /** Options of the local site (latencyMs...); default the demo seed. */
  site?: SiteOptions;
}

export interface ClusterBed {
  nats: TestNats;
  /** The plugin folder every node reads. */
  plugins: string;
  site: TestSite;
  names: ClusterNames;
  record: string;
  /** The bed's folder (node configs `<nodeId>.yaml`, plugins/). */
  dir: string;
  nodeIds: string[];
  start(i: number): void;
  /** Sends `signal` to node `i` and waits for it to exit. */
  kill(i: number, signal: NodeJS.Signals): Promise<void>;
  alive(i: number): boolean;
  /** Node `i`'s exit code once it exited (null: running, never started, or ended by a signal). */
  exitCode(i: number): number | null;
  /** Node `i`'s view of the cluster (null when it does not answer). */
  view(i: number): Promise<ClusterView | null>;
  /** Node `i`'s `/healthz`: status and reason (null when it does not answer). */
  health(i: number): Promise<{ status: number; reason: string | null } | null>;
  /** Runs `sgeventd <args> -c <node i's config>` against the running node. */
  cli(i: number, args: string[]): Promise<CliResult>;
  /** The first answer of a live node. */
  anyView(): Promise<ClusterView | null>;
  /** Waits until the poller's and every plugin's lease have a holder (from a live node's view); returns the view. */
  allHeld(): Promise<ClusterView>;
  /** The index of the node holding `plugin`'s lease (`poller`: the poller's). */
  holderOf(view: ClusterView, plugin: string): number;
  /** Creates `shots` Shots on the site, spread over its projects (each writes events the poller publishes); returns the newest event id. */
  createEvents(shots: number): Promise<number>;
  lines(): Line[];
  /** What node `i` wrote to stdout and stderr so far (its log lines). */
  output(i: number): string;
}

export interface Line {
  plugin: string;
  node: string;
  pid: string;
  id: number;
  key: string;
  what: 'start' | 'end';
}

export async function clusterBed(t: Cleanup, opts: ClusterBedOptions): Promise<ClusterBed> {
  const n = opts.nodes ?? 3;
  const nats = await startNats(t, { servers: 3, noAdvertise: opts.servers !== undefined });
  const site = await withSite(t, opts.site);
  const dir = tempDir(t, 'sgeventd-cluster-');
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins, { mode: 0o755 });
  chmodSync(plugins, 0o755);
  for (const p of opts.plugins) {
    copyFileSync(join(FIXTURES, `${p}.mjs`), join(plugins, `${p}.mjs`));
    chmodSync(join(plugins, `${p}.mjs`), 0o644);
  }
  for (const f of opts.pluginFiles ?? []) copyFileSync(f, join(plugins, basename(f)));
  const pluginCount = opts.plugins.length + (opts.pluginFiles?.length ?? 0);
  const keep = process.env['SGEVENTD_TEST_KEEP'];
  // Kept files are named after this bed's folder, so several tests can keep theirs side by side.
  const keepAs = (name: string): string => (keep === undefined ? join(dir, name) : join(keep, `${basename(dir)}-${name}`));
  if (keep !== undefined) mkdirSync(keep, { recursive: true });
  const record = keepAs('record.txt');
  const lease = opts.lease ?? { ttlMs: 5000, renewMs: 1000, checkMs: 1000, marginMs: 1500 };
  const nodeIds = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const configs = nodeIds.map((id, i) => {
    const file = join(dir, `${id}.yaml`);
    writeFileSync(file, stringify({
      site: { url: site.url, script: { name: DEFAULT_SCRIPT.name, key: '${SGEVENTD_TEST_KEY}' }, connRetrySleepMs: 50 },
      daemon: { state: join(dir, `${id}.db`), pidFile: join(dir, `${id}.pid`), fetchIntervalMs: 50, stateFlushMs: 50, ...opts.daemon },
      plugins: [{ path: plugins, ...opts.folder }],
      logging: { dir: join(dir, `logs-${id}`), level: process.env['SGEVENTD_TEST_LOG'] ?? 'info' },
      http: { enabled: true, host: '127.0.0.1', port: 0 },
      cluster: { name: 't', nodeId: id, nats: { servers: opts.servers?.(i, nats.urls) ?? nats.urls }, replicas: 3, lease,
        // Few partitions unless a test asks for more: each spread (plugin, partition) is a replicated lease stream, renewed and committed on its own.
        partitions: 8, ...opts.cluster },
      ...opts.sections?.(i),
    }));
    return file;
  });
  const procs: Array<ChildProcess | null> = nodeIds.map(() => null);
  const exited: Array<Promise<void> | null> = nodeIds.map(() => null);
  const names = clusterNames('t', site.url);

  const bed: ClusterBed = {
    nats, site, names, record, dir, nodeIds, plugins,
    start(i) {
      const id = nodeIds[i] as string;
      const child = spawn(process.execPath, [BIN, 'foreground', '-c', configs[i] as string], {
        env: {
          PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: DEFAULT_SCRIPT.key,
          SGEVENTD_TEST_RECORD: record, SGEVENTD_TEST_NODE: id, SGEVENTD_TEST_WORK_MS: String(opts.workMs ?? 0),
          // SGEVENTD_BENCH_NODE_OPTIONS: options for the nodes' Node (a bench's `--cpu-prof --cpu-prof-dir=...`).
          ...(process.env['SGEVENTD_BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['SGEVENTD_BENCH_NODE_OPTIONS'] } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // SGEVENTD_TEST_KEEP=<dir>: the nodes' output and the callback lines are kept there for a look after the test.
      const out = createWriteStream(keepAs(`${id}.out`), { flags: 'a' });
      child.stdout?.pipe(out);
      child.stderr?.pipe(out);
      procs[i] = child;
      exited[i] = new Promise((resolve) => child.once('exit', () => resolve()));
      onCleanup(t, async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited[i];
      });
    },
    async kill(i, signal) {
      const child = procs[i];
      if (!child) return;
      child.kill(signal);
      await exited[i];
    },
    exitCode(i) {
      return procs[i]?.exitCode ?? null;
    },
    alive(i) {
      const child = procs[i];
      return child !== null && child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async view(i) {
      if (!bed.alive(i)) return null;
      const urlFile = join(dir, `${nodeIds[i] as string}.pid.url`);
      if (!existsSync(urlFile)) return null;
      try {
        const res = await fetch(`${readFileSync(urlFile, 'utf8').trim()}/api/status`);
        if (res.status !== 200) return null;
        return statusDocumentSchema.parse(await res.json()).cluster ?? null;
      } catch {
        return null;
      }
    },
    async health(i) {
      const urlFile = join(dir, `${nodeIds[i] as string}.pid.url`);
      if (!bed.alive(i) || !existsSync(urlFile)) return null;
      try {
        const res = await fetch(`${readFileSync(urlFile, 'utf8').trim()}/healthz`);
        const body = await res.json() as { reason?: unknown };
        return { status: res.status, reason: typeof body.reason === 'string' ? body.reason : null };
      } catch {
        return null;
      }
    },
    cli(i, args) {
      return runCli([...args, '-c', configs[i] as string], { PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: DEFAULT_SCRIPT.key });
    },
    async anyView() {
      for (let i = 0; i < n; i++) {
        const v = await bed.view(i);
        if (v !== null && v.refreshedAt !== null) return v;
      }
      return null;
    },
    allHeld() {
      return waitFor(async () => {
        const v = await bed.anyView();
        return v !== null && v.pollerHolder !== null && v.plugins.length === pluginCount && v.plugins.every((p) => p.holder !== null) ? v : null;
      }, 'the poller and every plugin lease held by a node', 60_000);
    },
    holderOf(view, plugin) {
      const holder = plugin === 'poller' ? view.pollerHolder : view.plugins.find((p) => p.name === plugin)?.holder;
      const i = nodeIds.indexOf(holder ?? '');
      if (i < 0) throw new Error(`no holder for ${plugin} in ${JSON.stringify(view)}`);
      return i;
    },
    async createEvents(shots) {
      const projects = (await site.sg.find('Project', [], ['id'])).map((p) => p['id']).filter((id): id is number => typeof id === 'number');
      for (let done = 0; done < shots; done += 100) {
        const n = Math.min(100, shots - done);
        await site.sg.batch(Array.from({ length: n }, (_, k) => ({
          request_type: 'create' as const, entity_type: 'Shot',
          data: { code: `sh${done + k}`, project: { type: 'Project', id: projects[(done + k) % projects.length] as number } },
        })));
      }
      return site.newestEventId();
    },
    output(i) {
      const file = keepAs(`${nodeIds[i] as string}.out`);
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    },
    lines() {
      if (!existsSync(record)) return [];
      return readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => {
        const [plugin, node, pid, id, key, what] = l.split(' ');
        return { plugin: plugin as string, node: node as string, pid: pid as string, id: Number(id), key: key as string, what: what as 'start' | 'end' };
      });
    },
  };
  for (let i = 0; i < (opts.initialNodes ?? n); i++) bed.start(i);
  return bed;
}

export interface SafetyReport {
  /** Ids with no finished callback. */
  skipped: number[];
  /** Starts beyond the first, per id. */
  duplicates: number;
  /** Repeated ids whose earlier run was in the same tenure (no handover between the two runs) and ended. */
  repeatsWithinTenure: number[];
  /** Runs of an id again on the node whose earlier run of it never ended (cut off), in the same tenure: at least once, not a repeat. */
  rerunsAfterCutOff: number;
  /** How often the plugin changed nodes (a death, a lost lease or a handover). */
  handovers: number;
  /** Keys whose first starts were not in id order. */
  outOfOrder: string[];
  /** Ids started on a node while another live node's run of it was open. */
  overlapping: number[];
}

/**
 * The safety checks of the cluster tests, from the callback lines of one
 * plugin: every id in `(after, last]` ended at least once; an id runs again only in a
 * later tenure (the plugin moved to another node in between: a death, or a
 * lease lost while NATS was slow), or on the node whose run of it was cut
 * off before it ended (a lost lease ends the thread, and what ran in it
 * runs again); within each key the first starts rise; no
 * id started on one node while a live node (not in `dead`) still ran it.
 * `breaks`: positions in `lines` where every node is known to have lost the
 * plugin's lease (all of NATS down): the next start opens a new tenure even
 * on the node that held it before, since that node starts again from the last
 * committed cursor.
 */
export function safety(lines: Line[], plugin: string, after: number, last: number, dead: ReadonlySet<string>, breaks: readonly number[] = [], only?: (l: Line) => boolean): SafetyReport {
  const pending = [...breaks].sort((a, b) => a - b);
  const mine = lines.map((l, at) => ({ ...l, at })).filter((l) => l.plugin === plugin && (only === undefined || only(l)));
  const ended = new Set(mine.filter((l) => l.what === 'end').map((l) => l.id));
  const skipped: number[] = [];
  if (only === undefined) for (let id = after + 1; id <= last; id++) if (!ended.has(id)) skipped.push(id);
  const starts = new Map<number, number>(); // id → tenure of its last start
  let tenure = 0;
  let owner: string | null = null;
  const open = new Map<number, Set<string>>();
  const lastFirst = new Map<string, number>();
  const outOfOrder = new Set<string>();
  const overlapping: number[] = [];
  const repeatsWithinTenure: number[] = [];
  let duplicates = 0;
  let rerunsAfterCutOff = 0;
  for (const l of mine) {
    const running = open.get(l.id) ?? new Set<string>();
    open.set(l.id, running);
    if (l.what === 'end') {
      running.delete(l.node);
      continue;
    }
    for (const other of running) if (other !== l.node && !dead.has(other)) overlapping.push(l.id);
    // This node's earlier run of the id never ended: it was cut off (its thread ended with a lost lease) and runs again.
    const cutOff = running.has(l.node);
    running.add(l.node);
    const here = `${l.node}/${l.pid}`;
    let broken = false;
    while (pending.length > 0 && (pending[0] as number) <= l.at) {
      pending.shift();
      broken = true;
    }
    if (owner !== here || broken) {
      if (owner !== null) tenure++;
      owner = here;
    }
    const before = starts.get(l.id);
    starts.set(l.id, tenure);
    if (before === undefined) {
      const prev = lastFirst.get(l.key);
      if (prev !== undefined && prev > l.id) outOfOrder.add(l.key);
      lastFirst.set(l.key, l.id);
    } else if (cutOff && before === tenure) {
      rerunsAfterCutOff++;
    } else {
      duplicates++;
      if (before === tenure) repeatsWithinTenure.push(l.id);
    }
  }
  return { skipped, duplicates, rerunsAfterCutOff, repeatsWithinTenure, handovers: tenure, outOfOrder: [...outOfOrder], overlapping };
}

/** The project a callback line's key names (`p<id>` or `p<id>/<entity>`); null for the no-project lane (`p0`). */
export function projectOf(key: string): number | null {
  const id = Number(key.slice(1).split('/')[0]);
  return id === 0 ? null : id;
}

/**
 * The repeat checks of a spread plugin, partition by partition (its
 * partitions change nodes one by one, so a handover is counted per
 * partition): an event runs again only after its partition changed nodes,
 * and at most `perHandover` events (in flight + uncommitted) per change.
 * Returns what failed, one line each.
 */
export function partitionRepeats(lines: Line[], plugin: string, partitions: number, dead: ReadonlySet<string>, perHandover: number, breaks: readonly number[] = [], losses: ReadonlyMap<number, number> = new Map()): string[] {
  const failed: string[] = [];
  for (let p = 0; p < partitions; p++) {
    const r = safety(lines, plugin, 0, 0, dead, breaks, (l) => partitionOf(projectOf(l.key), partitions) === p);
    // A node that lost the partition's lease (renewals late on a starved machine) may claim it again itself:
    // a new tenure on the same node, which starts from the last committed cursor too.
    const lost = losses.get(p) ?? 0;
    if (r.repeatsWithinTenure.length > 0 && lost === 0) failed.push(`${plugin} p${p}: ${r.repeatsWithinTenure.length} events ran again without the partition changing nodes (${r.repeatsWithinTenure.slice(0, 5).join(', ')})`);
    const bound = (r.handovers + lost) * perHandover;
    if (r.duplicates > bound) failed.push(`${plugin} p${p}: ${r.duplicates} duplicates, at most ${bound} (${r.handovers} changes of node, ${lost} leases lost)`);
  }
  return failed;
}

/** How often nodes logged losing a lease of `plugin`'s partitions, by partition (from the nodes' log: a record's fields follow it, indented). */
export function leaseLosses(bed: ClusterBed, plugin: string): Map<number, number> {
  const losses = new Map<number, number>();
  for (let i = 0; i < bed.nodeIds.length; i++) {
    const text = bed.output(i).split('\n');
    text.forEach((line, at) => {
      if (!line.includes(`[${plugin}] partition lease lost`)) return;
      for (let k = at + 1; k < text.length && /^\s/.test(text[k] as string); k++) {
        const m = /^\s+partition: (\d+)$/.exec(text[k] as string);
        if (m !== null) losses.set(Number(m[1]), (losses.get(Number(m[1])) ?? 0) + 1);
      }
    });
  }
  return losses;
}
