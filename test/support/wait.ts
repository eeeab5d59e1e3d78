import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

/**
 * Polls `condition` until it returns a truthy value, and returns that value.
 * After `timeoutMs` it fails with an error naming `what` and the last value
 * the condition returned (or the error it threw), so a timeout says what was
 * seen, not only what was awaited.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let threw: boolean;
  for (let round = 0; ; round++) {
    try {
      const v = await condition();
      threw = false;
      last = v;
      if (v) return v;
    } catch (err) {
      threw = true;
      last = err;
    }
    if (Date.now() > deadline) {
      const seen = threw ? `it threw ${inspect(last, { depth: 2 })}` : `last value: ${inspect(last, { depth: 3, breakLength: Infinity })}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`, threw ? { cause: last } : undefined);
    }
    await sleep(round < 20 ? 10 : 25);
  }
}

/** Rejects after `ms` so a stuck promise fails the test (naming `what`) instead of hanging it. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
