import type { Daemon } from '../daemon/index.ts';
import { ProgressBar, type ProgressStream } from './progress.ts';

const TICK_MS = 250;

/**
 * The foreground's catch-up bar: from the start until every running plugin
 * has reached the newest event, it shows how far the most-behind plugin
 * has come, the events still behind, the rate and the ETA; then one line
 * ("caught up") and nothing more. Nothing when no plugin starts behind.
 */
export function showCatchUp(daemon: Pick<Daemon, 'status'>, out: ProgressStream): { stop(): void } {
  const bar = new ProgressBar(out, 'catching up');
  const started = Date.now();
  let start: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  const stop = (): void => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const tick = (): void => {
    const status = daemon.status();
    const running = status.plugins.filter((p) => p.status === 'running' && p.lastEventId !== null);
    if (running.length === 0) return;
    const lowest = Math.min(...running.map((p) => p.lastEventId ?? 0));
    const newest = status.newestEventId;
    start ??= lowest;
    if (start >= newest) {
      stop();
      return;
    }
    if (lowest >= newest) {
      bar.finish(`caught up: ${newest - start} events in ${((Date.now() - started) / 1000).toFixed(1)} s`, out);
      stop();
      return;
    }
    bar.update(lowest - start, newest - start);
  };
  timer = setInterval(tick, TICK_MS);
  timer.unref();
  tick();
  return {
    stop() {
      if (timer === null) return;
      stop();
      bar.finish(null, out);
    },
  };
}
