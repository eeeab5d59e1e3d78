import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigValidationError } from '../../src/config/index.ts';
import type { ConfigIssue } from '../../src/config/index.ts';

const minimal = { site: { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: 'a-key-for-tests' } }, plugins: [{ path: '/srv/plugins' }] };

function issuesOf(raw: Record<string, unknown>): ConfigIssue[] {
  try {
    parseConfig({ ...minimal, ...raw }, { source: 'test', env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigValidationError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return [...err.issues];
  }
  return [];
}

const LONG = 3_000_000_000; // past the 2^31-1 ms a Node timer takes

describe('config: durations', () => {
  it('refuses a duration below its minimum, naming the key (fetchIntervalMs 0 would poll the site flat out)', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ daemon: { fetchIntervalMs: 0 } }, 'daemon.fetchIntervalMs'],
      [{ daemon: { fetchIntervalMs: 49 } }, 'daemon.fetchIntervalMs'],
      [{ daemon: { callbackTimeoutMs: 5 } }, 'daemon.callbackTimeoutMs'],
      [{ daemon: { stateFlushMs: 0 } }, 'daemon.stateFlushMs'],
      [{ daemon: { restartBudget: { windowMs: 10 } } }, 'daemon.restartBudget.windowMs'],
      [{ site: { ...minimal.site, timeoutMs: 1 } }, 'site.timeoutMs'],
      [{ site: { ...minimal.site, connRetrySleepMs: 0 } }, 'site.connRetrySleepMs'],
      [{ toolkit: { idleTtlMs: 10 } }, 'toolkit.idleTtlMs'],
      [{ toolkit: { callTimeoutMs: 0 } }, 'toolkit.callTimeoutMs'],
      [{ toolkit: { crashBudget: { windowMs: 1 } } }, 'toolkit.crashBudget.windowMs'],
      [{ plugins: [{ path: '/srv/plugins', callbackTimeoutMs: 1 }] }, 'plugins.0.callbackTimeoutMs'],
      [{ daemon: { fetchIntervalMs: 1.5 } }, 'daemon.fetchIntervalMs'],
      [{ daemon: { idleTrimMs: 999 } }, 'daemon.idleTrimMs'],
    ];
    for (const [raw, key] of cases) {
      const issues = issuesOf(raw);
      assert.deepEqual(issues.map((i) => i.key), [key], JSON.stringify(raw));
    }
    assert.deepEqual(issuesOf({ daemon: { fetchIntervalMs: 50, backlogTimeoutMs: 0 } }), []);
    // The idle trim: 0 turns it off; a window under a second would trim on every pause between polls.
    assert.deepEqual(issuesOf({ daemon: { idleTrimMs: 0 } }), []);
    assert.deepEqual(issuesOf({ daemon: { idleTrimMs: 1000 } }), []);
  });

  it('takes spans longer than a platform timer (they are re-armed, not refused)', () => {
    const c = parseConfig({
      ...minimal,
      daemon: { callbackTimeoutMs: LONG, backlogTimeoutMs: LONG, fetchIntervalMs: LONG },
      toolkit: { idleTtlMs: LONG, callTimeoutMs: LONG },
    }, { source: 'test', env: {} });
    assert.equal(c.daemon.callbackTimeoutMs, LONG);
    assert.equal(c.plugins[0]?.callbackTimeoutMs, LONG);
    assert.equal(c.toolkit.idleTtlMs, LONG);
  });
});
