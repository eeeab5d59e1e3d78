/** What a test or suite offers for cleanup: `t.after` of a `TestContext`. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

const stacks = new WeakMap<Cleanup, Array<() => unknown>>();

/**
 * Registers `fn` to run when the test ends. Steps run last-registered first
 * (a daemon stops before its site closes, a folder goes after both), every
 * step runs even when one fails, and the first failure is rethrown.
 */
export function onCleanup(t: Cleanup, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const steps: Array<() => unknown> = [];
    stack = steps;
    stacks.set(t, steps);
    t.after(async () => {
      let first: unknown;
      let failed = false;
      while (steps.length > 0) {
        const step = steps.pop();
        try {
          await step?.();
        } catch (err) {
          if (!failed) first = err;
          failed = true;
        }
      }
      if (failed) throw first;
    });
  }
  stack.push(fn);
}
