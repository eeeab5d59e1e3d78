// Alert mail once per cluster: every node raises its own alerts (a site that
// stops answering is seen by whichever node reads it), and the first node to
// `create` the alert's key in a KV bucket whose TTL is the window mails it.
// `create` (expected revision 0) is the one KV write that is safe on a
// 3-server 2.9.10 cluster (docs/nats.md §2).
import { createHash } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { SgeventdError } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import type { ClusterLogger } from './fence.ts';
import type { ClusterNames } from './names.ts';

const OPEN_ATTEMPTS = 4;

/** What makes two alerts the same one. */
export interface AlertIdentity {
  plugin: string | null;
  title: string;
}

export interface ClusterAlertGateOptions {
  conn: Pick<ClusterConnection, 'js'>;
  names: ClusterNames;
  /** The bucket's TTL: an alert is mailed at most once per window for the cluster. */
  windowMs: number;
  replicas: number;
  nodeId: string;
  logger: ClusterLogger;
}

/** The KV bucket of one cluster and site's alert claims. */
export function alertBucket(names: ClusterNames): string {
  return `SGE_${names.cluster}_${names.site}_ALERTS`;
}

/**
 * Claims alerts for the cluster.
 *
 * @example
 * const gate = await ClusterAlertGate.open({ conn, names, windowMs: 3_600_000, replicas: 3, nodeId, logger });
 * mailer.gateWith((alert) => gate.claim(alert));
 */
export class ClusterAlertGate {
  readonly #kv: KV;
  readonly #opts: ClusterAlertGateOptions;

  private constructor(kv: KV, opts: ClusterAlertGateOptions) {
    this.#kv = kv;
    this.#opts = opts;
  }

  /** Opens (or makes) the bucket; nodes starting together may time out on a parallel create (nats-server #3880): tried again. */
  static async open(opts: ClusterAlertGateOptions): Promise<ClusterAlertGate> {
    const kvm = new Kvm(opts.conn.js);
    for (let attempt = 1; ; attempt++) {
      try {
        const kv = await kvm.create(alertBucket(opts.names), { ttl: opts.windowMs, replicas: opts.replicas, history: 1 });
        return new ClusterAlertGate(kv, opts);
      } catch (err) {
        if (attempt >= OPEN_ATTEMPTS) {
          throw new SgeventdError('CLUSTER_ALERTS_UNAVAILABLE', `the alert bucket ${alertBucket(opts.names)} could not be opened`, { cause: err, details: { bucket: alertBucket(opts.names) } });
        }
        opts.logger.warn({ err, attempt }, 'opening the alert bucket failed; trying again');
      }
    }
  }

  /**
   * True when this node is the first to raise `alert` in the window (it
   * mails it); false when another node did. When NATS does not answer, true:
   * a duplicate mail is better than a lost alert.
   */
  async claim(alert: AlertIdentity): Promise<boolean> {
    const key = alertKey(alert);
    try {
      await this.#kv.create(key, JSON.stringify({ node: this.#opts.nodeId, at: new Date().toISOString() }));
      return true;
    } catch (err) {
      // Wrong last sequence: the key exists, another node claimed this alert in the window.
      if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) return false;
      this.#opts.logger.warn({ err, title: alert.title }, 'claiming an alert in NATS failed; mailing it from this node');
      return true;
    }
  }
}

/** A KV key (hex) for an alert's identity. */
export function alertKey(alert: AlertIdentity): string {
  return createHash('sha256').update(`${alert.plugin ?? ''}\n${alert.title}`).digest('hex').slice(0, 40);
}
