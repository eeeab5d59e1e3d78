// Every stream and subject of a cluster, namespaced by the cluster's name and
// the site, so several clusters and sites can share one NATS account.

/** Events with no project go to this partition (project ids hash over all partitions, this one included). */
export const NO_PROJECT_PARTITION = 0;

/** The names one cluster uses for one site. */
export interface ClusterNames {
  /** `cluster.name` as configured. */
  readonly cluster: string;
  /** The site URL as a name token (`studio-shotgrid-autodesk-com`, `127-0-0-1-8090`). */
  readonly site: string;
  /** Stream of every event: `SGE_<name>_<site>_EVENTS`. */
  readonly eventStream: string;
  /** Subject of one partition: `sge.<name>.<site>.events.<partition>`. */
  eventSubject(partition: number): string;
  /** All partitions at once (the one filter of a plugin that keeps one order over all events). */
  readonly allEvents: string;
  /** Subject of the poller's takeover marks, in the event stream but outside the events' subjects. */
  readonly pollerMarkSubject: string;
  /** Core NATS subject any node publishes `{ atLeastId }` to; the poller's holder reads at once. */
  readonly wakeSubject: string;
  /** Core NATS request subject every node answers (control.ts): `sge.<name>.<site>.ctl.<verb>`. */
  controlSubject(verb: string): string;
  /** The stream that holds only the fenced key `key` (fence.ts). */
  leaseStream(key: string): string;
  leaseSubject(key: string): string;
  /** `Nats-Msg-Id` of an event: `<site>:<eventId>`, so a republish is dropped within the dedup window. */
  msgId(eventId: number): string;
  /** KV bucket of node heartbeats (membership.ts): `SGE_<name>_<site>_NODES`. */
  readonly nodesBucket: string;
}

/**
 * Names for cluster `cluster` and site `siteUrl`.
 *
 * @example
 * clusterNames('prod', 'https://studio.shotgrid.autodesk.com').eventSubject(7)
 * // 'sge.prod.studio-shotgrid-autodesk-com.events.7'
 */
export function clusterNames(cluster: string, siteUrl: string): ClusterNames {
  const site = siteSlug(siteUrl);
  const prefix = `sge.${cluster}.${site}`;
  const streamPrefix = `SGE_${cluster}_${site}`;
  return {
    cluster,
    site,
    eventStream: `${streamPrefix}_EVENTS`,
    eventSubject: (partition) => `${prefix}.events.${partition}`,
    allEvents: `${prefix}.events.>`,
    pollerMarkSubject: `${prefix}.poller`,
    wakeSubject: `${prefix}.wake`,
    controlSubject: (verb) => `${prefix}.ctl.${verb}`,
    leaseStream: (key) => `${streamPrefix}_L_${keyToken(key)}`,
    leaseSubject: (key) => `${prefix}.lease.${keyToken(key)}`,
    msgId: (eventId) => `${site}:${eventId}`,
    nodesBucket: `${streamPrefix}_NODES`,
  };
}

/** Host, port and path of a site URL as one token of letters, digits and '-'. */
export function siteSlug(siteUrl: string): string {
  const u = new URL(siteUrl);
  const raw = `${u.hostname}${u.port === '' ? '' : `-${u.port}`}${u.pathname === '/' ? '' : u.pathname}`;
  return raw.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * A lease key (`poller`, `plugin.basic.shell`) as a stream-name token: letters,
 * digits and '-' stay, every other byte becomes `_XX` (hex), so two keys never
 * share a stream.
 */
export function keyToken(key: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(key)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * The partition of an event: FNV-1a of the project id, mod `partitions`;
 * events without a project go to NO_PROJECT_PARTITION.
 */
export function partitionOf(projectId: number | null | undefined, partitions: number): number {
  if (projectId === null || projectId === undefined) return NO_PROJECT_PARTITION;
  let h = 0x811c9dc5;
  for (const ch of String(projectId)) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}
