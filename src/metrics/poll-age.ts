// Apart from the Prometheus registry, so the status document (and the CLI
// that reads it) can use it without loading prom-client.

/** Milliseconds since the last successful read of the event log, or since start when there was none. */
export function pollAgeMs(s: { startedAt: string; lastSuccessfulReadAt: string | null }, now: number): number {
  const ref = Date.parse(s.lastSuccessfulReadAt ?? s.startedAt);
  return Number.isFinite(ref) ? Math.max(0, now - ref) : 0;
}
