import { SgeventdError } from '../shared/errors.ts';
import { ToolkitError } from './errors.ts';
import type { ToolkitLogger } from './log.ts';
import type { CrashBudget } from './options.ts';

interface Health {
  crashes: number[];
  failedUntil: number;
  projects: Set<number>;
}

/**
 * The crash budget of the pool's keys: a key whose runtimes crash
 * `budget.count` times within `budget.windowMs` fails fast
 * (TK_RUNTIME_FAILED) until `budget.backoffMs` passes. All runtimes of a key
 * count against one budget: they run the same core and configuration.
 */
export class KeyHealth {
  readonly #budget: CrashBudget;
  readonly #logger: ToolkitLogger;
  readonly #keys = new Map<string, Health>();

  constructor(budget: CrashBudget, logger: ToolkitLogger) {
    this.#budget = budget;
    this.#logger = logger;
  }

  /** The error a call of `key` fails fast with, or null when the key may start runtimes. */
  failedFast(key: string, projectId: number): ToolkitError | null {
    const h = this.#keys.get(key);
    if (!h || h.failedUntil <= Date.now()) return null;
    return new ToolkitError('TK_RUNTIME_FAILED', `toolkit runtime ${key} crashed too often; retrying after ${new Date(h.failedUntil).toISOString()}`, {
      details: { key, project: projectId, retryAt: h.failedUntil },
    });
  }

  /** A runtime of `key` crashed, or failed to start. */
  crashed(key: string, projectId: number, err: unknown): void {
    const { count, windowMs, backoffMs } = this.#budget;
    const now = Date.now();
    const h = this.#keys.get(key) ?? { crashes: [], failedUntil: 0, projects: new Set<number>() };
    h.projects.add(projectId);
    h.crashes = [...h.crashes.filter((t) => now - t < windowMs), now];
    const code = err instanceof SgeventdError ? err.code : 'unknown';
    if (h.crashes.length >= count) {
      h.failedUntil = now + backoffMs;
      h.crashes = [];
      this.#logger.error({ key, project: projectId, code, retryAt: h.failedUntil }, 'toolkit: runtime crashed too often; failing fast');
    } else {
      this.#logger.warn({ key, project: projectId, code, crashes: h.crashes.length }, 'toolkit: runtime crashed; the next call starts a new one');
    }
    this.#keys.set(key, h);
  }

  /** Keys failing fast now, for `toolkit ps`. */
  failing(now: number): { key: string; projects: number[]; retryAt: number }[] {
    return [...this.#keys].filter(([, h]) => h.failedUntil > now).map(([key, h]) => ({ key, projects: [...h.projects], retryAt: h.failedUntil }));
  }

  /** Clears the budget of one key, of the keys that served a project, or of all (a recycle by hand). */
  forget(target: { key: string } | { project: number } | 'all'): void {
    for (const [key, h] of this.#keys) {
      if (target === 'all' || ('key' in target ? key === target.key : h.projects.has(target.project))) this.#keys.delete(key);
    }
  }
}
