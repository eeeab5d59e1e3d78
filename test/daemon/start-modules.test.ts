// What the daemon loads before its first event: a real `sgeventd foreground`
// with one JS plugin, mail and the status server on, its main thread's
// modules recorded by a loader hook (test/fixtures/cli/trace-modules.mjs) and
// the first event marked in the same file by the plugin. Modules, not time,
// so it holds on a busy machine; the time is in bench/startup.bench.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonBed, startForeground, tempDir, waitFor, withSite, withSmtp } from '../support/index.ts';

const CLI_FIXTURES = fileURLToPath(new URL('../fixtures/cli/', import.meta.url));
const TRACE = join(CLI_FIXTURES, 'trace-modules.mjs');
/** A daemon child's start on a machine whose cores are shared. */
const DAEMON_WAIT_MS = 120_000;
/** Packages the first event does not need: the site's HTTP client, mail, metrics, NATS. */
const HEAVY = [/^undici$/, /^nodemailer$/, /^prom-client$/, /^@nats-io\//];

const packageOf = (url: string): string | undefined => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];

describe('start-up: the first event before the heavy packages', () => {
  it('a daemon with one JS plugin, mail and the status server on reaches its first event without undici, nodemailer, prom-client or NATS', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const smtp = await withSmtp(t);
    const plugin = join(h.plugins, 'first-event-mark.mjs');
    copyFileSync(join(CLI_FIXTURES, 'first-event-mark.mjs'), plugin);
    chmodSync(plugin, 0o644);
    const file = h.writeYaml({}, {}, {
      logging: { dir: h.logs, level: 'info' },
      http: { port: 0 },
      emails: { enabled: true, host: '127.0.0.1', port: smtp.port, from: 'sgeventd@example.com', to: ['ops@example.com'] },
    });
    const from = await h.site.newestEventId();
    const out = join(tempDir(t, 'sgeventd-trace-'), 'modules.txt');
    const { child, exited, stderr } = startForeground(t, { yaml: file, from, env: { ...h.childEnv(), SGEVENTD_TRACE_MODULES: out }, nodeArgs: ['--import', TRACE] });
    const lines = (): string[] => readFileSync(out, 'utf8').split('\n').filter(Boolean);
    const e1 = await h.site.newShotEvent('start-modules');
    const marker = await waitFor(() => lines().find((l) => l.startsWith('#first-event ')), 'the plugin\'s first event', DAEMON_WAIT_MS);
    assert.ok(Number(marker.split(' ')[1]) <= e1, 'the first event is one of the new shot\'s');

    const all = lines();
    const before = all.slice(0, all.indexOf(marker));
    const loaded = new Set(before.map(packageOf).filter((p): p is string => p !== undefined));
    // The trace sees the packages the first event does need.
    assert.ok(loaded.has('zod') && loaded.has('better-sqlite3'), [...loaded].join(', '));
    assert.deepEqual([...loaded].filter((p) => HEAVY.some((re) => re.test(p))), [], 'heavy packages loaded before the first event');

    // They still load when needed: a scrape of /metrics brings prom-client, after the marker.
    const url = await waitFor(() => {
      try {
        return readFileSync(join(h.dir, 'sgeventd.pid.url'), 'utf8').trim();
      } catch {
        return '';
      }
    }, 'the status server URL', DAEMON_WAIT_MS);
    const metrics = await fetch(`${url}/metrics`);
    assert.equal(metrics.status, 200);
    await metrics.text();
    const after = lines();
    assert.ok(after.slice(after.indexOf(marker)).some((u) => packageOf(u) === 'prom-client'), 'prom-client loaded at the first scrape');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr());
  });
});
