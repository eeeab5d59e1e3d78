// `sgeventd migrate --to-cluster`: each plugin's cursor, unfinished ids and
// gap ids move from a single machine's state file into the plugin's fenced
// lease, and the poller is seeded to publish from the lowest id any of them
// still needs. Safe to kill and run again: what is already there and equal
// is left alone; a cluster cursor that differs is refused unless forced.
import type { DaemonConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { ensureEventStream, type ClusterConnection } from './connect.ts';
import { freshCursor, workerCursorSchema, type WorkerCursorState } from './cursor.ts';
import { FencedLease, type ClusterLogger } from './fence.ts';
import type { ClusterNames } from './names.ts';
import { pollerStateSchema, type PollerState } from './poller.ts';

/** One plugin as the state file knows it. */
export interface PluginToMigrate {
  id: string;
  /** Every event at or below it is finished, except `ids`. */
  afterId: number;
  /** Unfinished (pending) and gap ids, at or below `afterId`. */
  ids: number[];
  active: boolean;
  lastError: string | null;
}

export interface MigrateToClusterOptions {
  conn: ClusterConnection;
  names: ClusterNames;
  cluster: NonNullable<DaemonConfig['cluster']>;
  plugins: PluginToMigrate[];
  /** Replace plugin cursors already in the cluster. */
  force: boolean;
  logger?: ClusterLogger;
}

export interface MigrateOutcome {
  /** Plugin ids written now, or found already migrated the same way. */
  written: string[];
  unchanged: string[];
  /** The poller's position: it publishes events after this id. */
  pollerAfter: number;
}

/** The migration cannot go ahead as asked. */
export class ClusterMigrateError extends SgeventdError {
  constructor(code: 'MIGRATE_WOULD_OVERWRITE' | 'MIGRATE_POLLER_AHEAD' | 'MIGRATE_LEASE_HELD', message: string, details: Record<string, unknown>) {
    super(code, message, { details });
  }
}

/**
 * Seeds the poller first (a node started after an interrupted run then
 * publishes from far enough back), then writes each plugin's migrated
 * cursor through its lease (claimed, written, released).
 */
export async function migrateToCluster(o: MigrateToClusterOptions): Promise<MigrateOutcome> {
  const { conn, names, cluster } = o;
  await ensureEventStream(conn.jsm, names, cluster);
  if (o.plugins.length === 0) return { written: [], unchanged: [], pollerAfter: -1 };
  const need = Math.min(...o.plugins.map((p) => Math.min(p.afterId + 1, ...p.ids)));
  const lease = (key: string) => ({ conn, names, key, nodeId: `${cluster.nodeId}-migrate`, timing: cluster.lease, replicas: cluster.replicas, ...(o.logger ? { logger: o.logger } : {}) });
  // A lease a crashed node left is free after the ttl; one still renewed by a live node never is.
  const claimWithin = AbortSignal.timeout(cluster.lease.ttlMs + cluster.lease.checkMs * 2 + 1000);

  // The poller: never started (or seeded by an earlier run at or below what is needed now).
  const poller = await FencedLease.open<PollerState>({ ...lease('poller'), state: pollerStateSchema, initial: { lastId: -1, gaps: [], seq: 0 } });
  let pollerAfter: number;
  try {
    const last = await poller.read();
    const at = last?.record.state.lastId ?? -1;
    if (at >= 0 && at >= need) {
      throw new ClusterMigrateError('MIGRATE_POLLER_AHEAD', `the cluster's poller already published events after ${at}, but a migrated plugin needs event ${need}: migrate before the nodes first run`, { pollerAfter: at, needed: need });
    }
    if (at >= 0) pollerAfter = at;
    else {
      const seq = (await conn.jsm.streams.info(names.eventStream)).state.last_seq;
      const tenure = await poller.acquire(claimWithin).catch((err: unknown) => {
        throw new ClusterMigrateError('MIGRATE_LEASE_HELD', 'the poller lease is held by a running node: stop the nodes, then migrate', { cause: String(err) });
      });
      pollerAfter = need - 1;
      await tenure.release({ lastId: pollerAfter, gaps: [], seq });
    }
  } finally {
    await poller.close();
  }

  const streamEnd = (await conn.jsm.streams.info(names.eventStream)).state.last_seq;
  const written: string[] = [];
  const unchanged: string[] = [];
  for (const p of o.plugins) {
    const l = await FencedLease.open<WorkerCursorState | null>({ ...lease(`plugin.${p.id}`), state: workerCursorSchema.nullable(), initial: null });
    try {
      const found = (await l.read())?.record.state ?? null;
      const wanted: WorkerCursorState = {
        ...freshCursor(streamEnd), active: p.active, lastError: p.lastError,
        migrated: { afterId: p.afterId, ids: [...new Set(p.ids)].sort((a, b) => a - b) },
      };
      if (found !== null && JSON.stringify(found.migrated) === JSON.stringify(wanted.migrated) && found.highSeq <= streamEnd && found.pending.length === 0) {
        unchanged.push(p.id);
        continue;
      }
      if (found !== null && !o.force) {
        throw new ClusterMigrateError('MIGRATE_WOULD_OVERWRITE', `the cluster already has a cursor for plugin ${p.id}: pass --force to replace it`, { plugin: p.id });
      }
      const tenure = await l.acquire(claimWithin).catch((err: unknown) => {
        throw new ClusterMigrateError('MIGRATE_LEASE_HELD', `the lease of plugin ${p.id} is held by a running node: stop the nodes, then migrate`, { plugin: p.id, cause: String(err) });
      });
      await tenure.release(wanted);
      written.push(p.id);
    } finally {
      await l.close();
    }
  }
  return { written, unchanged, pollerAfter };
}
