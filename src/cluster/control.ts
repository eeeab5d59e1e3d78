// Operators' commands to a cluster: `plugin enable/disable` as records of a
// control stream (the last record per plugin wins; its stream sequence orders
// them), applied by whichever node holds the plugin's lease and kept in its
// fenced cursor, so they survive a failover; `plugin reload` as a message
// every node acts on (the owner reloads, standbys reload their copies).
import { z } from 'zod';
import type { ClusterConnection } from './connect.ts';
import { ensureStream } from './connect.ts';
import { ClusterRecordError } from './errors.ts';
import { CLUSTER_FORMAT, checkFormat } from './format.ts';
import { keyToken, type ClusterNames } from './names.ts';

/** One `plugin enable/disable` as stored. */
export interface ControlRecord {
  /** Stream sequence: a node applies a record once, in this order. */
  readonly seq: number;
  readonly paused: boolean;
}

const controlSchema = z.object({ format: z.number(), paused: z.boolean(), at: z.string() });

/** `plugin reload` across nodes: the plugin ids to reload, and where each node answers. */
export const reloadRequestSchema = z.object({ format: z.number(), ids: z.array(z.string()) });
export const reloadAnswerSchema = z.object({ node: z.string(), active: z.array(z.string()), copies: z.array(z.string()) });
export type ReloadAnswer = z.infer<typeof reloadAnswerSchema>;

/** The control stream of one cluster and site. */
export class ClusterControl {
  readonly stream: string;
  readonly reloadSubject: string;
  readonly #prefix: string;
  readonly #conn: Pick<ClusterConnection, 'js' | 'jsm' | 'nc'>;

  private constructor(conn: Pick<ClusterConnection, 'js' | 'jsm' | 'nc'>, names: ClusterNames) {
    this.#conn = conn;
    this.#prefix = `sge.${names.cluster}.${names.site}.control`;
    this.stream = `SGE_${names.cluster}_${names.site}_CONTROL`;
    this.reloadSubject = `${this.#prefix}.reload`;
  }

  /** Creates the control stream when missing (every node and the CLI may call it at once). */
  static async open(conn: Pick<ClusterConnection, 'js' | 'jsm' | 'nc'>, names: ClusterNames, replicas: number): Promise<ClusterControl> {
    const control = new ClusterControl(conn, names);
    await ensureStream(conn.jsm, {
      name: control.stream,
      subjects: [`${control.#prefix}.plugin.*`],
      retention: 'limits',
      storage: 'file',
      discard: 'old',
      max_msgs_per_subject: 4,
      num_replicas: replicas,
      allow_direct: false,
    });
    return control;
  }

  subject(pluginId: string): string {
    return `${this.#prefix}.plugin.${keyToken(pluginId)}`;
  }

  /** Stores `plugin enable` (paused false) or `plugin disable` (paused true); returns its sequence. */
  async set(pluginId: string, paused: boolean): Promise<number> {
    const ack = await this.#conn.js.publish(this.subject(pluginId), JSON.stringify({ format: CLUSTER_FORMAT, paused, at: new Date().toISOString() }));
    return ack.seq;
  }

  /** The last record for `pluginId` (null: never enabled or disabled by hand). */
  async read(pluginId: string): Promise<ControlRecord | null> {
    const msg = await this.#conn.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(pluginId) });
    if (msg === null) return null;
    const where = `control record ${this.stream} seq ${msg.seq}`;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(msg.data));
    } catch (err) {
      throw new ClusterRecordError(where, 'not JSON', { cause: err });
    }
    checkFormat((json as { format?: unknown } | null)?.format, where);
    const parsed = controlSchema.safeParse(json);
    if (!parsed.success) throw new ClusterRecordError(where, 'not a control record');
    return { seq: msg.seq, paused: parsed.data.paused };
  }
}
