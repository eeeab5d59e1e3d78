import type { DaemonStatusLike } from '../../src/http/index.ts';

/** A status as a daemon with three plugins and two project runtimes would report it. */
export function sampleStatus(overrides: Partial<DaemonStatusLike> = {}): DaemonStatusLike {
  const now = Date.now();
  return {
    site: 'https://studio.shotgrid.example',
    pid: 4242,
    startedAt: new Date(now - 3_600_000).toISOString(),
    newestEventId: 1500,
    lastPollAt: new Date(now - 2_000).toISOString(),
    lastSuccessfulReadAt: new Date(now - 2_000).toISOString(),
    siteErrors: 2,
    plugins: [
      {
        id: '/plugins/log_events', name: 'log_events', kind: 'js', status: 'running',
        lastEventId: 1500, backlog: 0, lag: 0, lastError: null, processed: 812, failed: 0, meanMs: 1.7,
      },
      {
        id: '/plugins/shot_toolkit', name: 'shot_toolkit', kind: 'js', status: 'running',
        lastEventId: 1458, backlog: 3, lag: 42, lastError: null, processed: 96, failed: 1, meanMs: 184.2,
      },
      {
        id: '/plugins/status_changed', name: 'status_changed', kind: 'python', status: 'deactivated',
        lastEventId: 1201, backlog: 0, lag: 299, lastError: 'KeyError: \'sg_status_list\'', processed: 40, failed: 3, meanMs: 12.5,
      },
    ],
    runtimes: [
      { key: '/cores/v0.20.17|/configs/alpha', projects: [122], mode: 'centralized', coreVersion: 'v0.20.17', pid: 5001, rssMb: 86.3, calls: 57, ageMs: 754_000, pending: 0, state: 'ready' },
      { key: '/cores/v0.23.6|/configs/beta', projects: [123, 124], mode: 'centralized', coreVersion: 'v0.23.6', pid: 5002, rssMb: 91.8, calls: 12, ageMs: 98_000, pending: 1, state: 'busy' },
    ],
    deadLetters: [
      { id: 7, pluginId: '/plugins/shot_toolkit', callback: 'on_shot', eventId: 1333, error: 'TimeoutError: callback ran past 30000 ms', attempts: 1, status: 'dead', createdAt: now - 600_000 },
    ],
    ...overrides,
  };
}
