import { z } from 'zod';
// Not the folder's index: the CLI parses status documents without loading prom-client.
import { pollAgeMs } from '../metrics/poll-age.ts';
import type { HistoryDocument } from '../metrics/history.ts';

/** One plugin as the status page shows it (the engine's `PluginSnapshot` fits). */
export interface PluginStatusLike {
  id: string;
  name: string;
  kind: string;
  status: string;
  lastEventId: number | null;
  backlog: number;
  lag: number | null;
  lastError: string | null;
  /** Since the daemon started, across plugin reloads. */
  processed: number;
  failed: number;
  /** Since the plugin was last (re)loaded; absent: the same as the totals. */
  processedSinceReload?: number;
  failedSinceReload?: number;
  meanMs: number | null;
  /** Events whose callbacks are running; absent: not reported. */
  inFlight?: number;
  /** Key lanes with an event running. */
  lanesBusy?: number;
  /** The lowest id handed out and not finished, and the events between it and the newest one. */
  oldestUnfinished?: number | null;
  oldestUnfinishedLag?: number | null;
  /** Set when its oldest unread event nears the age at which a hosted site culls its log. */
  logAgeWarning?: { eventId: number; createdAt: string; ageDays: number } | null;
}

/** One project runtime (the pool's `RuntimeStatus` fits). */
export interface RuntimeStatusLike {
  key: string;
  projects: readonly number[];
  mode: string;
  coreVersion: string | null;
  pid: number | null;
  /** Resident memory now. */
  rssMb: number | null;
  /** The most it has held (the runtime's own peak); absent when unknown. */
  peakRssMb?: number | null;
  calls: number;
  ageMs: number;
  pending: number;
  state: string;
}

/** A dead letter (the state store's `DeadLetter` fits; its event payload is not shown). */
export interface DeadLetterLike {
  id: number;
  pluginId: string;
  callback: string;
  eventId: number;
  error: string;
  attempts: number;
  status: string;
  /** Epoch ms. */
  createdAt: number;
}

/** The webhook receiver's view (absent when webhooks are off). */
export interface WebhookStatusLike {
  /** Requests by result (accepted, malformed, unsigned, bad_signature, too_large). */
  deliveries: Readonly<Record<string, number>>;
  lastDeliveryAt: string | null;
  lastDeliveredId: number;
  /** Set while the webhook is silent: polling found an expected event that no delivery covered. */
  silent: { since: string; eventId: number; eventType: string; lastDeliveredId: number } | null;
  silences: number;
}

/**
 * What the daemon reports about itself. `Daemon.status()` satisfies it; the
 * http layer never imports the daemon (it sits beside it).
 */
export interface DaemonStatusLike {
  site: string;
  pid: number;
  startedAt: string;
  newestEventId: number;
  lastPollAt: string | null;
  lastSuccessfulReadAt: string | null;
  siteErrors: number;
  plugins: readonly PluginStatusLike[];
  runtimes: readonly RuntimeStatusLike[];
  /** The most recent dead letters, newest first; absent when the source does not report them. */
  deadLetters?: readonly DeadLetterLike[];
  /** The webhook receiver; absent when webhooks are off. */
  webhooks?: WebhookStatusLike | null;
  /** A cluster node's view of the cluster; absent on a single machine. */
  cluster?: ClusterStatusLike;
  /** Project names by id, as read from the site (cached); absent or missing ids: shown by id. */
  projectNames?: ReadonlyMap<number, string>;
}

/** A cluster node's view (cluster/status.ts `ClusterStatus` fits). */
export interface ClusterStatusLike {
  nodeId: string;
  cluster: string;
  connected: boolean;
  stream: string;
  streamLastSeq: number | null;
  pollerHolder: string | null;
  /** This node's poller counters (null: this node has no poller candidate). */
  poller?: { tenures: number; reads: number; published: number; duplicates: number } | null;
  /** Every node that answered (its runtimes and the plugins it holds); absent from older nodes. */
  nodes?: ReadonlyArray<{ nodeId: string; host: string; pid: number; startedAt: string; active: readonly string[]; runtimes: readonly RuntimeStatusLike[] }>;
  refreshedAt: string | null;
  plugins: ReadonlyArray<{
    id: string; name: string; holder: string | null; role: string; highSeq: number | null; highId: number | null;
    pending: number; lag: number | null; inFlight: number; active: boolean | null;
    processed?: number; failed?: number;
  }>;
  /** Scale-out: partition owners and each node's load (cluster/partition-status.ts `ScaleStatus` fits). */
  scale?: z.input<typeof scaleSchema>;
}

export interface StatusSource {
  status(): DaemonStatusLike | Promise<DaemonStatusLike>;
  /** The daemon's samples for the page's charts and `/api/history`; absent: neither. */
  history?(): HistoryDocument;
}

/** Dead letters shown on the page and in `/api/status`. */
export const MAX_DEAD_LETTERS = 20;
const MAX_ERROR_CHARS = 2000;

const pluginSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  status: z.string(),
  lastEventId: z.number().nullable(),
  backlog: z.number(),
  lag: z.number().nullable(),
  lastError: z.string().nullable(),
  processed: z.number(),
  failed: z.number(),
  processedSinceReload: z.number(),
  failedSinceReload: z.number(),
  meanMs: z.number().nullable(),
  inFlight: z.number(),
  lanesBusy: z.number(),
  oldestUnfinished: z.number().nullable(),
  oldestUnfinishedLag: z.number().nullable(),
  logAgeWarning: z.object({ eventId: z.number(), createdAt: z.string(), ageDays: z.number() }).nullable().default(null),
});

const runtimeSchema = z.object({
  key: z.string(),
  projects: z.array(z.number()),
  mode: z.string(),
  coreVersion: z.string().nullable(),
  pid: z.number().nullable(),
  rssMb: z.number().nullable(),
  peakRssMb: z.number().nullable(),
  calls: z.number(),
  ageMs: z.number(),
  pending: z.number(),
  state: z.string(),
});

const deadLetterSchema = z.object({
  id: z.number(),
  plugin: z.string(),
  callback: z.string(),
  eventId: z.number(),
  error: z.string(),
  attempts: z.number(),
  status: z.string(),
  createdAt: z.string(),
});

const scaleSchema = z.object({
  partitions: z.number(),
  nodes: z.array(z.object({
    nodeId: z.string(), alive: z.boolean(), leaving: z.boolean(), heartbeatAgeMs: z.number(), partitions: z.array(z.number()),
    activeProjects: z.number(), recentEvents: z.number(), load: z.number(), inFlight: z.number(),
    runtimes: z.array(z.object({ project: z.number(), state: z.string() })).nullable(),
  })),
  owners: z.array(z.object({ partition: z.number(), placedOn: z.string().nullable(), holders: z.record(z.string(), z.string()) })),
});

const clusterSchema = z.object({
  nodeId: z.string(),
  cluster: z.string(),
  connected: z.boolean(),
  stream: z.string(),
  streamLastSeq: z.number().nullable(),
  pollerHolder: z.string().nullable(),
  poller: z.object({ tenures: z.number(), reads: z.number(), published: z.number(), duplicates: z.number() }).nullable().optional(),
  nodes: z.array(z.object({
    nodeId: z.string(), host: z.string(), pid: z.number(), startedAt: z.string(), active: z.array(z.string()), runtimes: z.array(runtimeSchema),
  })).optional(),
  refreshedAt: z.string().nullable(),
  plugins: z.array(z.object({
    id: z.string(), name: z.string(), holder: z.string().nullable(), role: z.string(), highSeq: z.number().nullable(),
    highId: z.number().nullable(), pending: z.number(), lag: z.number().nullable(), inFlight: z.number(), active: z.boolean().nullable(),
    /** Callback runs and failures committed with the cursor (absent from older nodes). */
    processed: z.number().optional(), failed: z.number().optional(),
  })),
  /** Absent from nodes that do not spread plugins over partitions. */
  scale: scaleSchema.optional(),
});

/** The body of `GET /api/status`; clients (the `status` command) parse it with this schema. */
export const statusDocumentSchema = z.object({
  site: z.string(),
  pid: z.number(),
  startedAt: z.string(),
  generatedAt: z.string(),
  uptimeMs: z.number(),
  newestEventId: z.number(),
  /** The largest plugin lag (events behind the newest one); null when no plugin has a cursor yet. */
  lag: z.number().nullable(),
  lastPollAt: z.string().nullable(),
  lastSuccessfulReadAt: z.string().nullable(),
  lastPollAgeMs: z.number(),
  siteErrors: z.number(),
  plugins: z.array(pluginSchema),
  runtimes: z.array(runtimeSchema),
  /** null when the daemon does not report dead letters. */
  deadLetters: z.array(deadLetterSchema).nullable(),
  /** null when webhooks are off (absent from older daemons). */
  webhooks: z.object({
    deliveries: z.record(z.string(), z.number()),
    lastDeliveryAt: z.string().nullable(),
    lastDeliveredId: z.number(),
    silent: z.object({ since: z.string(), eventId: z.number(), eventType: z.string(), lastDeliveredId: z.number() }).nullable(),
    silences: z.number(),
  }).nullable().optional(),
  /** A cluster node's view of the cluster; absent on a single machine. */
  cluster: clusterSchema.optional(),
  /** Project names by id (as a string), for the projects the document mentions. */
  projects: z.record(z.string(), z.string()).default({}),
});

export type StatusDocument = z.infer<typeof statusDocumentSchema>;

/** Builds the document from a status: only known fields are copied, long errors are cut. */
export function statusDocument(s: DaemonStatusLike, now: number): StatusDocument {
  const lags = s.plugins.map((p) => p.lag).filter((l): l is number => l !== null);
  const started = Date.parse(s.startedAt);
  return {
    site: s.site,
    pid: s.pid,
    startedAt: s.startedAt,
    generatedAt: new Date(now).toISOString(),
    uptimeMs: Number.isFinite(started) ? Math.max(0, now - started) : 0,
    newestEventId: s.newestEventId,
    lag: lags.length > 0 ? Math.max(...lags) : null,
    lastPollAt: s.lastPollAt,
    lastSuccessfulReadAt: s.lastSuccessfulReadAt,
    lastPollAgeMs: pollAgeMs(s, now),
    siteErrors: s.siteErrors,
    plugins: s.plugins.map((p) => ({
      id: p.id, name: p.name, kind: p.kind, status: p.status, lastEventId: p.lastEventId, backlog: p.backlog, lag: p.lag,
      lastError: p.lastError === null ? null : cut(p.lastError), processed: p.processed, failed: p.failed,
      processedSinceReload: p.processedSinceReload ?? p.processed, failedSinceReload: p.failedSinceReload ?? p.failed, meanMs: p.meanMs,
      inFlight: p.inFlight ?? 0, lanesBusy: p.lanesBusy ?? 0, oldestUnfinished: p.oldestUnfinished ?? null, oldestUnfinishedLag: p.oldestUnfinishedLag ?? null,
      logAgeWarning: p.logAgeWarning ? { ...p.logAgeWarning } : null,
    })),
    runtimes: s.runtimes.map((r) => ({
      key: r.key, projects: [...r.projects], mode: r.mode, coreVersion: r.coreVersion, pid: r.pid, rssMb: r.rssMb, peakRssMb: r.peakRssMb ?? null,
      calls: r.calls, ageMs: r.ageMs, pending: r.pending, state: r.state,
    })),
    deadLetters: s.deadLetters === undefined
      ? null
      : s.deadLetters.slice(0, MAX_DEAD_LETTERS).map((d) => ({
        id: d.id, plugin: d.pluginId, callback: d.callback, eventId: d.eventId, error: cut(d.error),
        attempts: d.attempts, status: d.status, createdAt: new Date(d.createdAt).toISOString(),
      })),
    webhooks: s.webhooks === undefined || s.webhooks === null ? null : {
      deliveries: { ...s.webhooks.deliveries }, lastDeliveryAt: s.webhooks.lastDeliveryAt, lastDeliveredId: s.webhooks.lastDeliveredId,
      silent: s.webhooks.silent === null ? null : { ...s.webhooks.silent }, silences: s.webhooks.silences,
    },
    projects: projectNames(s),
    ...(s.cluster === undefined ? {} : {
      cluster: {
        nodeId: s.cluster.nodeId, cluster: s.cluster.cluster, connected: s.cluster.connected, stream: s.cluster.stream,
        streamLastSeq: s.cluster.streamLastSeq, pollerHolder: s.cluster.pollerHolder, refreshedAt: s.cluster.refreshedAt,
        poller: s.cluster.poller === undefined || s.cluster.poller === null ? null : { ...s.cluster.poller },
        nodes: (s.cluster.nodes ?? []).map((n) => ({
          nodeId: n.nodeId, host: n.host, pid: n.pid, startedAt: n.startedAt, active: [...n.active], runtimes: n.runtimes.map(runtimeDocument),
        })),
        plugins: s.cluster.plugins.map((p) => ({
          id: p.id, name: p.name, holder: p.holder, role: p.role, highSeq: p.highSeq, highId: p.highId,
          pending: p.pending, lag: p.lag, inFlight: p.inFlight, active: p.active,
          ...(p.processed === undefined ? {} : { processed: p.processed }), ...(p.failed === undefined ? {} : { failed: p.failed }),
        })),
        ...(s.cluster.scale === undefined ? {} : { scale: scaleSchema.parse(s.cluster.scale) }),
      },
    }),
  };
}

/** Names of the projects the runtimes serve. */
function projectNames(s: DaemonStatusLike): Record<string, string> {
  const out: Record<string, string> = {};
  if (s.projectNames === undefined) return out;
  for (const r of s.runtimes) {
    for (const id of r.projects) {
      const name = s.projectNames.get(id);
      if (name !== undefined) out[String(id)] = name;
    }
  }
  return out;
}

/** A runtime as a node of the cluster reports it. */
function runtimeDocument(r: RuntimeStatusLike): StatusDocument['runtimes'][number] {
  return {
    key: r.key, projects: [...r.projects], mode: r.mode, coreVersion: r.coreVersion, pid: r.pid, rssMb: r.rssMb, peakRssMb: r.peakRssMb ?? null,
    calls: r.calls, ageMs: r.ageMs, pending: r.pending, state: r.state,
  };
}

function cut(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}
