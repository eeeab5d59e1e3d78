import { SgeventdError } from '../shared/index.ts';

/** Why a holder's tenure ended. */
export type LeaseLossReason =
  | 'superseded' // another node's claim was accepted (a fenced write failed)
  | 'expired' // no renewal confirmed within ttl - margin on the holder's own clock
  | 'released' // this node released it
  | 'closed'; // this node stopped without releasing (the lease runs out for the others)

/** A write or action needed the lease and this node no longer holds it. */
export class LeaseLostError extends SgeventdError {
  constructor(key: string, reason: LeaseLossReason, options: { cause?: unknown; epoch?: number } = {}) {
    super('CLUSTER_LEASE_LOST', `lease ${JSON.stringify(key)} is no longer held by this node (${reason})`,
      { cause: options.cause, details: { key, reason, ...(options.epoch === undefined ? {} : { epoch: options.epoch }) } });
  }

  get reason(): LeaseLossReason {
    return this.details['reason'] as LeaseLossReason;
  }
}

/** A record written by a node of another message-format version. */
export class ClusterFormatError extends SgeventdError {
  constructor(where: string, found: unknown, ours: number) {
    super('CLUSTER_FORMAT_MISMATCH',
      `${where} was written in cluster format ${JSON.stringify(found)}, this node reads format ${ours}: run one version of sgeventd across the cluster`,
      { details: { where, found, ours } });
  }
}

/** A record in NATS that does not have the expected shape. */
export class ClusterRecordError extends SgeventdError {
  constructor(where: string, problem: string, options: { cause?: unknown } = {}) {
    super('CLUSTER_RECORD_INVALID', `${where}: ${problem}`, { cause: options.cause, details: { where } });
  }
}

/** NATS could not be reached or refused the connection. */
export class ClusterConnectError extends SgeventdError {
  constructor(servers: readonly string[], options: { cause?: unknown } = {}) {
    super('CLUSTER_CONNECT_FAILED', `could not connect to NATS (${servers.join(', ')})`, { cause: options.cause, details: { servers } });
  }
}
