import type { StatusDocument } from './status.ts';

/** The floor of the allowed poll age: a slow fetch interval never makes a healthy daemon look stale. */
export const MIN_HEALTH_WINDOW_MS = 30_000;

export type HealthReport =
  | { ok: true; lastPollAgeMs: number; limitMs: number; idle?: true }
  | { ok: false; lastPollAgeMs: number | null; limitMs: number; reason: 'poll-stale' | 'status-unavailable' | 'nats-disconnected'; message: string };

/** The longest the last successful poll may be ago: max(3 × fetchIntervalMs, 30 s). */
export function healthWindowMs(fetchIntervalMs: number | undefined): number {
  return Math.max(3 * (fetchIntervalMs ?? 0), MIN_HEALTH_WINDOW_MS);
}

/**
 * Healthy while the last successful read of the event log (or the start,
 * before the first one) is recent. With no running plugin, nothing polls the
 * site's head, so the age alone says nothing: the daemon reports itself idle.
 */
export function evaluateHealth(doc: StatusDocument, limitMs: number): HealthReport {
  const age = doc.lastPollAgeMs;
  // A cluster node cut off from NATS hands out no work (its leases run out): not healthy.
  if (doc.cluster !== undefined && !doc.cluster.connected) {
    return { ok: false, lastPollAgeMs: age, limitMs, reason: 'nats-disconnected', message: `node ${doc.cluster.nodeId} is not connected to NATS; reconnecting` };
  }
  if (age <= limitMs) return { ok: true, lastPollAgeMs: age, limitMs };
  if (!doc.plugins.some((p) => p.status === 'running')) return { ok: true, lastPollAgeMs: age, limitMs, idle: true };
  return {
    ok: false, lastPollAgeMs: age, limitMs, reason: 'poll-stale',
    message: `no successful read of the event log for ${Math.round(age / 1000)} s (limit ${Math.round(limitMs / 1000)} s)`,
  };
}
