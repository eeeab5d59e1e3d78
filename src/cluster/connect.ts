// One NATS connection per node, and the streams it needs. Reconnects forever
// (`maxReconnectAttempts: -1`): the client's default closes the connection
// about 25 s after every server went away, and a node must ride out a full
// NATS outage and resume.
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { ClusterConfig } from '../config/index.ts';
import { ClusterConnectError } from './errors.ts';
import type { ClusterNames } from './names.ts';

/** A node's handle on NATS. */
export interface ClusterConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  close(): Promise<void>;
}

/** What connectCluster needs of the `cluster` section. */
export type NatsOptions = Pick<ClusterConfig, 'nats'> & { readonly nodeId?: string };

/**
 * Connects to the cluster's NATS servers (TLS, credentials or user/password
 * as configured). Fails with CLUSTER_CONNECT_FAILED when no server answers the
 * first time; once connected it reconnects without limit.
 */
export async function connectCluster(config: NatsOptions): Promise<ClusterConnection> {
  const { servers, tls, credentials, user, password } = config.nats;
  const opts: NodeConnectionOptions = {
    servers: [...servers],
    maxReconnectAttempts: -1,
    // Back on another server soon after one dies: a lease holder has ttl - margin to renew.
    reconnectTimeWait: 500,
    // No stack captured at the start of every request (each fenced write, read and consumer call makes two errors
    // only in case it fails): about 2 % of a node's CPU with spread plugins (docs/ARCHITECTURE.md, "Cluster mode: CPU per event").
    noAsyncTraces: true,
    ...(config.nodeId === undefined ? {} : { name: `sgeventd ${config.nodeId}` }),
    ...(tls === undefined ? {} : { tls: { ...tls } }),
    ...(credentials === undefined ? {} : { authenticator: credsAuthenticator(readFileSync(credentials)) }),
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { pass: password.reveal() }),
  };
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (err) {
    throw new ClusterConnectError(servers, { cause: err });
  }
  const jsm = await jetstreamManager(nc);
  return {
    nc,
    js: jetstream(nc),
    jsm,
    async close() {
      if (!nc.isClosed()) await nc.drain();
    },
  };
}

/** What the event stream's settings come from. */
export type EventStreamOptions = Pick<ClusterConfig, 'replicas' | 'maxAgeMs' | 'duplicateWindowMs'>;

/**
 * Creates the event stream of `names` (limits retention: deleting a consumer
 * removes nothing) or brings its settings up to date. Safe to call from every
 * node at once.
 */
export async function ensureEventStream(jsm: JetStreamManager, names: ClusterNames, opts: EventStreamOptions): Promise<void> {
  await ensureStream(jsm, {
    name: names.eventStream,
    subjects: [names.allEvents, names.pollerMarkSubject],
    retention: 'limits',
    storage: 'file',
    discard: 'old',
    num_replicas: opts.replicas,
    max_age: opts.maxAgeMs * 1_000_000,
    duplicate_window: Math.min(opts.duplicateWindowMs, opts.maxAgeMs) * 1_000_000,
  });
}

/** Adds a stream, or updates it when it exists with other settings; tolerates a concurrent create. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  // Nodes starting together may time out on parallel creates (nats-server #3880; a node died at start on a loaded machine): tried again.
  for (let attempt = 1; ; attempt++) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // 10058: exists with a different configuration.
      if (err instanceof JetStreamApiError && err.code === 10058) break;
      if (attempt >= 4 || !(err instanceof Error) || err.name !== 'TimeoutError') throw err;
    }
  }
  await jsm.streams.update(config.name, config);
}
