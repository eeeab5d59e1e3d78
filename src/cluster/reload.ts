// `sgeventd plugin reload` across a cluster: any node takes the request and
// sends it to every node; each reloads its copies of the plugins named (the
// owner ends its term first: callbacks in flight finish, the cursor is
// committed) and answers; the asking node waits for each plugin's owner.
import { createInbox } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { SgeventdError } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import { reloadAnswerSchema, reloadRequestSchema, type ClusterControl, type ReloadAnswer } from './control.ts';
import { CLUSTER_FORMAT } from './format.ts';
import type { LeaseSnapshot } from './fence.ts';
import type { PluginWorker } from './worker.ts';

/** How long the asking node waits for the owners' answers. */
const RELOAD_WAIT_MS = 120_000;

/** Answers reload requests on this node; returns the unsubscribe. */
export function answerReloads(conn: Pick<ClusterConnection, 'nc'>, control: ClusterControl, nodeId: string, workers: () => readonly PluginWorker[], logger: Logger): () => void {
  const sub = conn.nc.subscribe(control.reloadSubject, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.warn({ err }, 'the plugin reload subscription failed');
        return;
      }
      const parsed = reloadRequestSchema.safeParse(safeJson(msg.data));
      if (!parsed.success || parsed.data.format !== CLUSTER_FORMAT) {
        logger.warn('a plugin reload request of another format was ignored');
        return;
      }
      const ids = new Set(parsed.data.ids);
      const mine = workers().filter((w) => ids.has(w.id));
      void Promise.all(mine.map(async (w) => ({ id: w.id, outcome: await w.reload() })))
        .then((done) => {
          const answer: ReloadAnswer = {
            node: nodeId,
            active: done.filter((d) => d.outcome === 'active').map((d) => d.id),
            copies: done.filter((d) => d.outcome === 'copy').map((d) => d.id),
          };
          if (msg.reply !== undefined) conn.nc.publish(msg.reply, JSON.stringify(answer));
        })
        .catch((e: unknown) => logger.error({ err: e }, 'reloading plugins on request failed'));
    },
  });
  return () => sub.unsubscribe();
}

/** A plugin to reload, with its lease (to learn its owner). */
export interface ReloadTarget {
  id: string;
  name: string;
  lease: { read(): Promise<LeaseSnapshot<unknown> | undefined> } | null;
}

/**
 * Sends the reload to every node and waits until each plugin's owner (as its
 * lease record named it) answered; a plugin nobody holds is done once any
 * node answered. CLUSTER_RELOAD_UNANSWERED when an owner never answers.
 */
export async function reloadAcrossNodes(conn: Pick<ClusterConnection, 'nc'>, control: ClusterControl, targets: readonly ReloadTarget[]): Promise<string[]> {
  const owners = new Map<string, string | null>();
  for (const t of targets) {
    const last = await t.lease?.read().catch(() => undefined);
    const r = last?.record;
    owners.set(t.id, r !== undefined && r.released !== true ? r.holder : null);
  }
  const waiting = new Set(targets.map((t) => t.id));
  const inbox = createInbox();
  const sub = conn.nc.subscribe(inbox);
  const timer = setTimeout(() => sub.unsubscribe(), RELOAD_WAIT_MS);
  try {
    conn.nc.publish(control.reloadSubject, JSON.stringify({ format: CLUSTER_FORMAT, ids: targets.map((t) => t.id) }), { reply: inbox });
    for await (const msg of sub) {
      const parsed = reloadAnswerSchema.safeParse(safeJson(msg.data));
      if (!parsed.success) continue;
      const a = parsed.data;
      for (const id of [...waiting]) {
        const owner = owners.get(id) ?? null;
        if (a.active.includes(id) || owner === a.node || (owner === null && a.copies.includes(id))) waiting.delete(id);
      }
      if (waiting.size === 0) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  if (waiting.size > 0) {
    const names = targets.filter((t) => waiting.has(t.id)).map((t) => t.name);
    throw new SgeventdError('CLUSTER_RELOAD_UNANSWERED', `the owners of ${names.join(', ')} did not confirm the reload within ${RELOAD_WAIT_MS / 1000} s`, { details: { plugins: names } });
  }
  return targets.map((t) => t.name);
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
}
