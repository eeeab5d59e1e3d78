// What the status shows of scale-out: who owns each partition, each node's
// load, and a spread plugin's cursor summed over its partitions. Computed
// from the heartbeats (membership.ts) and the partitions' last sequences.
import type { MemberView } from './membership.ts';
import type { Placement } from './placement.ts';

/** One node's load as the others see it. */
export interface ScaleNodeStatus {
  nodeId: string;
  alive: boolean;
  leaving: boolean;
  /** Milliseconds since its heartbeat last moved (on the reporting node's clock). */
  heartbeatAgeMs: number;
  /** Partitions it holds (any spread plugin). */
  partitions: number[];
  /** Projects with events in its partitions within the placement window. */
  activeProjects: number;
  /** Events it handed out within the placement window. */
  recentEvents: number;
  /** The placement's weight of its partitions (weighted active projects). */
  load: number;
  inFlight: number;
  /** Its warm Toolkit runtimes, when it reports them. */
  runtimes: Array<{ project: number; state: string }> | null;
}

/** One partition: the node placement puts it on and the holder of each spread plugin's lease. */
export interface ScalePartitionStatus {
  partition: number;
  placedOn: string | null;
  /** Plugin name → node holding its lease of this partition. */
  holders: Record<string, string>;
}

export interface ScaleStatus {
  partitions: number;
  nodes: ScaleNodeStatus[];
  owners: ScalePartitionStatus[];
}

/** The scale-out part of `/api/status` and `sgeventd cluster status`. */
export function scaleStatus(
  members: ReadonlyMap<string, MemberView>, placement: Placement | null, partitions: number, pluginNames: ReadonlyMap<string, string>,
): ScaleStatus {
  const nodes: ScaleNodeStatus[] = [];
  const owners: ScalePartitionStatus[] = Array.from({ length: partitions }, (_, p) => ({ partition: p, placedOn: placement?.owner.get(p) ?? null, holders: {} }));
  for (const [id, m] of [...members].sort((a, b) => a[0].localeCompare(b[0]))) {
    const held = new Set<number>();
    for (const [pluginId, parts] of Object.entries(m.report.held)) {
      for (const p of Object.keys(parts)) {
        held.add(Number(p));
        const o = owners[Number(p)];
        if (o !== undefined && m.alive) o.holders[pluginNames.get(pluginId) ?? pluginId] = id;
      }
    }
    const projects = new Set<string>();
    let recent = 0;
    for (const ps of Object.values(m.report.work)) {
      for (const [project, n] of Object.entries(ps)) {
        projects.add(project);
        recent += n;
      }
    }
    nodes.push({
      nodeId: id, alive: m.alive, leaving: m.report.leaving, heartbeatAgeMs: Math.round(m.ageMs),
      partitions: [...held].sort((a, b) => a - b), activeProjects: projects.size, recentEvents: recent,
      load: Math.round((placement?.load.get(id) ?? 0) * 100) / 100, inFlight: m.report.inFlight, runtimes: m.report.runtimes ?? null,
    });
  }
  return { partitions, nodes, owners };
}

/** A spread plugin's line of the status, over its partitions. */
export interface SpreadPluginStatus {
  /** The live node holding most of its partitions. */
  holder: string | null;
  /**
   * The low watermark over partitions: while any partition has messages
   * after its cursor, the lowest such cursor; once all caught up, the highest.
   */
  highSeq: number | null;
  highId: number | null;
  /** Handed out and unfinished, over all partitions. */
  pending: number;
  /** Partitions with messages after their cursor. */
  lagging: number;
}

/**
 * Sums a spread plugin's partitions from the heartbeats: each partition's
 * cursor is its live holder's (else the last a gone holder announced); a
 * partition nobody ever held starts at the plugin's origin.
 */
export function spreadPluginStatus(
  pluginId: string, members: ReadonlyMap<string, MemberView>, lastSeqs: ReadonlyMap<number, number>, partitions: number, origin: { highSeq: number; highId: number } | null,
): SpreadPluginStatus {
  const cursors = new Map<number, { highSeq: number; highId: number; pending: number; live: boolean; ageMs: number }>();
  const count = new Map<string, number>();
  for (const [id, m] of members) {
    const parts = m.report.held[pluginId] ?? {};
    for (const [p, c] of Object.entries(parts)) {
      const before = cursors.get(Number(p));
      if (m.alive) count.set(id, (count.get(id) ?? 0) + 1);
      if (before === undefined || (m.alive && !before.live) || (m.alive === before.live && m.ageMs < before.ageMs)) {
        cursors.set(Number(p), { highSeq: c.highSeq, highId: c.highId, pending: c.pending, live: m.alive, ageMs: m.ageMs });
      }
    }
  }
  let pending = 0;
  let lagging = 0;
  let low: { highSeq: number | null; highId: number | null } | null = null;
  let high: { highSeq: number; highId: number } | null = origin;
  for (let p = 0; p < partitions; p++) {
    const c = cursors.get(p);
    const last = lastSeqs.get(p);
    pending += c?.pending ?? 0;
    const at = c ?? origin;
    if (at !== null && (high === null || at.highSeq > high.highSeq)) high = { highSeq: at.highSeq, highId: at.highId };
    const behind = last !== undefined && (at === null || last > at.highSeq);
    if (!behind) continue;
    lagging++;
    if (low === null || (at !== null && low.highSeq !== null && at.highSeq < low.highSeq)) low = at === null ? { highSeq: null, highId: null } : { highSeq: at.highSeq, highId: at.highId };
  }
  const holder = [...count].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null;
  const mark = low ?? high;
  return { holder, highSeq: mark?.highSeq ?? null, highId: mark?.highId ?? null, pending, lagging };
}
