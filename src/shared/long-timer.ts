/** The longest delay a Node timer takes; beyond it Node fires after 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2_147_483_647;

/** A timer that may be longer than MAX_TIMER_MS. */
export interface LongTimer {
  clear(): void;
  /** Lets the process end while the timer is pending (as `Timeout.unref`). */
  unref(): LongTimer;
  ref(): LongTimer;
}

/**
 * `setTimeout` for any span: a delay above MAX_TIMER_MS is waited for in
 * chunks, re-armed until the whole span has passed, instead of becoming a
 * 1 ms timer. Configured durations (callback timeouts, idle TTLs, backoffs)
 * go through here.
 *
 * @example
 * const timer = setLongTimeout(() => cancel('timeout'), config.daemon.callbackTimeoutMs);
 * ...
 * timer.clear();
 */
export function setLongTimeout(fn: () => void, ms: number, maxChunkMs: number = MAX_TIMER_MS): LongTimer {
  const deadline = Date.now() + ms;
  let referenced = true;
  let cleared = false;
  let current: NodeJS.Timeout;
  const arm = (delay: number): void => {
    current = setTimeout(() => {
      const left = deadline - Date.now();
      if (left > 0 && delay === maxChunkMs) arm(Math.min(left, maxChunkMs));
      else fn();
    }, delay);
    if (!referenced) current.unref();
  };
  arm(Math.min(Math.max(0, ms), maxChunkMs));
  const timer: LongTimer = {
    clear: () => {
      cleared = true;
      clearTimeout(current);
    },
    unref: () => {
      referenced = false;
      if (!cleared) current.unref();
      return timer;
    },
    ref: () => {
      referenced = true;
      if (!cleared) current.ref();
      return timer;
    },
  };
  return timer;
}

/** `timers/promises` `setTimeout(ms, undefined, { signal })` for any span; rejects with the signal's reason on abort. */
export function sleepLong(ms: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      timer.clear();
      reject(abortError(signal!));
    };
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// As node:timers/promises does: an AbortError (code ABORT_ERR) whose cause is the signal's reason.
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
