// Requests every node answers over core NATS (`sge.<name>.<site>.ctl.*`):
// what runs on it (`nodes`: its runtimes and the plugins it holds) and
// `recycle` (its runtimes of a project). Core NATS, not JetStream: an answer
// matters only while the asker waits, and a node that does not answer in
// time is simply not listed.
import { hostname } from 'node:os';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { SgeventdError } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import type { ClusterLogger } from './fence.ts';
import { CLUSTER_FORMAT } from './format.ts';
import type { ClusterNames } from './names.ts';

const runtimeSchema = z.object({
  key: z.string(),
  projects: z.array(z.number()),
  mode: z.string(),
  coreVersion: z.string().nullable(),
  pid: z.number().nullable(),
  rssMb: z.number().nullable(),
  peakRssMb: z.number().nullable().optional(),
  calls: z.number(),
  ageMs: z.number(),
  pending: z.number(),
  state: z.string(),
});

/** What one node says of itself. */
export const nodeInfoSchema = z.object({
  format: z.number().int(),
  nodeId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  startedAt: z.string(),
  /** Plugins whose lease this node holds. */
  active: z.array(z.string()),
  runtimes: z.array(runtimeSchema),
});
export type NodeInfo = z.infer<typeof nodeInfoSchema>;
export type NodeRuntime = z.infer<typeof runtimeSchema>;

const recycleRequestSchema = z.object({ project: z.string().optional() });
const recycleAnswerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('recycled'), nodeId: z.string(), recycled: z.number().int().nonnegative() }),
  z.object({ type: z.literal('failed'), nodeId: z.string(), code: z.string(), error: z.string() }),
]);
export type RecycleAnswer = z.infer<typeof recycleAnswerSchema>;

/** What a node does when asked. */
export interface ControlHandlers {
  /** This node's runtimes and the plugins it holds. */
  describe(): Omit<NodeInfo, 'format' | 'nodeId' | 'host' | 'pid' | 'startedAt'>;
  /** Recycles this node's runtimes of `project` (id or tank_name), or all: how many. */
  recycle(project: string | undefined): Promise<number>;
}

export interface ClusterControlOptions {
  conn: Pick<ClusterConnection, 'nc'>;
  names: ClusterNames;
  nodeId: string;
  handlers: ControlHandlers;
  logger: ClusterLogger;
  /** How long a request collects answers. */
  waitMs: number;
}

/**
 * Answers the control requests of other nodes and asks them its own.
 *
 * @example
 * const control = new ClusterControl({ conn, names, nodeId, handlers, logger, waitMs: 1000 });
 * control.start();
 * const nodes = await control.nodes();          // every node that answered, sorted by id
 */
export class ClusterControl {
  readonly #opts: ClusterControlOptions;
  readonly #startedAt = new Date().toISOString();
  readonly #subs: Subscription[] = [];

  constructor(opts: ClusterControlOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (this.#subs.length > 0) return;
    const { nc } = this.#opts.conn;
    this.#subs.push(nc.subscribe(this.#opts.names.controlSubject('nodes'), { callback: (err, msg) => {
      if (err === null) this.#answer(msg, () => this.#describe());
    } }));
    this.#subs.push(nc.subscribe(this.#opts.names.controlSubject('recycle'), { callback: (err, msg) => {
      if (err === null) this.#answer(msg, () => this.#recycle(msg));
    } }));
  }

  stop(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }

  /** Every node that answered within `waitMs` (this one included), sorted by node id. */
  async nodes(): Promise<NodeInfo[]> {
    const out: NodeInfo[] = [];
    for (const m of await this.#ask('nodes', {})) {
      const parsed = nodeInfoSchema.safeParse(m);
      if (parsed.success && parsed.data.format === CLUSTER_FORMAT) out.push(parsed.data);
      else this.#opts.logger.warn({ answer: m }, 'a node answered the nodes request in another format; not listed');
    }
    return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  /** Asks every node to recycle its runtimes of `project` (or all); the answers, sorted by node id. */
  async recycle(project: string | undefined): Promise<RecycleAnswer[]> {
    const out: RecycleAnswer[] = [];
    for (const m of await this.#ask('recycle', project === undefined ? {} : { project })) {
      const parsed = recycleAnswerSchema.safeParse(m);
      if (parsed.success) out.push(parsed.data);
      else this.#opts.logger.warn({ answer: m }, 'a node answered the recycle request in another format; ignored');
    }
    return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  async #ask(verb: string, body: Record<string, unknown>): Promise<unknown[]> {
    const { nc } = this.#opts.conn;
    let replies: AsyncIterable<Msg>;
    try {
      replies = await nc.requestMany(this.#opts.names.controlSubject(verb), JSON.stringify(body), { strategy: 'timer', maxWait: this.#opts.waitMs });
    } catch (err) {
      throw new SgeventdError('CLUSTER_CONTROL_FAILED', `asking the cluster's nodes (${verb}) failed`, { cause: err, details: { verb } });
    }
    const out: unknown[] = [];
    try {
      for await (const m of replies) {
        try {
          out.push(m.json());
        } catch (err) {
          this.#opts.logger.warn({ err, verb }, 'an unreadable answer to a control request; ignored');
        }
      }
    } catch (err) {
      // No node answered at all (no responders) is an empty answer, not a failure.
      this.#opts.logger.debug({ err, verb }, 'a control request ended early');
    }
    return out;
  }

  #describe(): NodeInfo {
    return { format: CLUSTER_FORMAT, nodeId: this.#opts.nodeId, host: hostname(), pid: process.pid, startedAt: this.#startedAt, ...this.#opts.handlers.describe() };
  }

  async #recycle(msg: Msg): Promise<RecycleAnswer> {
    const nodeId = this.#opts.nodeId;
    let project: string | undefined;
    try {
      project = recycleRequestSchema.parse(msg.json()).project;
    } catch {
      return { type: 'failed', nodeId, code: 'CLUSTER_CONTROL_MALFORMED', error: 'the recycle request is not { project?: string }' };
    }
    try {
      return { type: 'recycled', nodeId, recycled: await this.#opts.handlers.recycle(project) };
    } catch (err) {
      const code = err instanceof SgeventdError ? err.code : 'CLUSTER_CONTROL_FAILED';
      return { type: 'failed', nodeId, code, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Replies with what `make` gives; a failure to answer is logged (the asker lists this node as silent). */
  #answer(msg: Msg, make: () => unknown): void {
    const reply = async (): Promise<void> => {
      const body = await make();
      msg.respond(JSON.stringify(body));
    };
    reply().catch((err: unknown) => this.#opts.logger.warn({ err, subject: msg.subject }, 'answering a control request failed'));
  }
}
