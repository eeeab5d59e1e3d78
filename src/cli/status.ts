import { existsSync } from 'node:fs';
// Single files: asking a running daemon needs neither the schema (zod) nor the site client.
import { daemonSecrets } from '../config/secrets.ts';
import { describeError, SecretMask } from '../shared/index.ts';
import { runningPid } from './pidfile.ts';
import { addressFor, daemonUrl, fullConfig } from './daemon-contact.ts';
import { fetchStatusReply } from './status-reply.ts';

interface StatusRow {
  plugin: string;
  active: boolean;
  /** The daemon's word for it (running, deactivated, paused, load-failed...), or from the state file: active, inactive, paused. */
  state: string;
  cursor: number | null;
  backlog: number;
  lag: number | null;
  processed: number;
  failed: number;
  /** Events running now, and key lanes busy (null: the daemon is not running). */
  inFlight: number | null;
  lanesBusy: number | null;
  /** The lowest id handed out and not finished (from the state file: the lowest stored pending id), and its lag. */
  oldestUnfinished: number | null;
  oldestUnfinishedLag: number | null;
  lastError: string | null;
}

/** Per plugin: cursor, backlog size, lag behind the site's newest event, errors. */
export async function collectStatus(configPath: string): Promise<{ running: number | null; newest: number | null; siteError: string | null; plugins: StatusRow[]; source: 'daemon' | 'state' }> {
  // The config in full only when it must be (see config/daemon-address.ts), or for the site below.
  const { address, secrets } = await addressFor(configPath);
  // Error texts may hold a secret that plugin code put there: masked before they are printed.
  let mask = new SecretMask(secrets);
  const running = runningPid(address.daemon.pidFile);
  // A running daemon knows best (live cursors, runtimes); otherwise read the state file and the site.
  const url = daemonUrl(address);
  if (url !== null) {
    try {
      const doc = await fetchStatusReply(address, url);
      return mask.maskJson({
        running, newest: doc.newestEventId, siteError: null, source: 'daemon' as const,
        plugins: doc.plugins.map((p) => ({
          plugin: p.id, active: p.status === 'running', state: p.status, cursor: p.lastEventId, backlog: p.backlog, lag: p.lag,
          processed: p.processed, failed: p.failed, inFlight: p.inFlight, lanesBusy: p.lanesBusy,
          oldestUnfinished: p.oldestUnfinished, oldestUnfinishedLag: p.oldestUnfinishedLag, lastError: p.lastError,
        })),
      });
    } catch {
      // Fall back to the state file below.
    }
  }
  // No daemon to ask: read the site and the state file, loading their clients (and the whole config) only now.
  const config = await fullConfig(configPath);
  mask = new SecretMask(daemonSecrets(config));
  const [{ connectSite }, { openSqliteState }] = await Promise.all([import('../daemon/site-connection.ts'), import('../state/index.ts')]);
  let newest: number | null = null;
  let siteError: string | null = null;
  const site = connectSite(config, { interactive: true });
  try {
    const rows = await site.client.find('EventLogEntry', [], ['id'], { order: [{ field_name: 'id', direction: 'desc' }], limit: 1 });
    newest = typeof rows[0]?.['id'] === 'number' ? rows[0]['id'] : 0;
  } catch (err) {
    siteError = describeError(err);
  } finally {
    await site.close();
  }
  const plugins: StatusRow[] = [];
  if (existsSync(config.daemon.state)) {
    const store = await openSqliteState(config.daemon.state);
    try {
      const counters = await store.counters();
      for (const p of await store.loadPlugins()) {
        const mine = counters.filter((c) => c.pluginId === p.id);
        const pending = p.backlog.filter((b) => b.kind === 'pending').map((b) => b.eventId);
        const oldest = pending.length > 0 ? Math.min(...pending) : null;
        plugins.push({
          plugin: p.id,
          active: p.active && !p.paused,
          state: p.paused ? 'paused' : p.active ? 'active' : 'inactive',
          cursor: p.lastEventId,
          backlog: p.backlog.length,
          lag: newest !== null && p.lastEventId !== null ? Math.max(0, newest - p.lastEventId) : null,
          processed: mine.reduce((n, c) => n + c.processed, 0),
          failed: mine.reduce((n, c) => n + c.failed, 0),
          inFlight: null,
          lanesBusy: null,
          oldestUnfinished: oldest,
          oldestUnfinishedLag: newest !== null && oldest !== null ? Math.max(0, newest - oldest) : null,
          lastError: p.lastError,
        });
      }
    } finally {
      await store.close();
    }
  }
  return mask.maskJson({ running, newest, siteError, plugins, source: 'state' as const });
}

export interface StatusCliOptions {
  config: string;
  json?: boolean;
}

/** `sgeventd status`: a table, or JSON. */
export async function statusCommand(opts: StatusCliOptions): Promise<void> {
  const s = await collectStatus(opts.config);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(`daemon: ${s.running === null ? 'not running' : `running (pid ${s.running})`}`);
  out.push(`site newest event: ${s.newest ?? `unknown (${s.siteError ?? ''})`}`);
  out.push('');
  out.push(['PLUGIN', 'STATE', 'CURSOR', 'BACKLOG', 'LAG', 'OK', 'FAILED', 'IN FLIGHT', 'LANES BUSY', 'OLDEST UNFINISHED', 'LAST ERROR'].join('\t'));
  for (const p of s.plugins) {
    const oldest = p.oldestUnfinished === null ? '-' : `${p.oldestUnfinished} (lag ${p.oldestUnfinishedLag ?? '-'})`;
    out.push([p.plugin, p.state, p.cursor ?? '-', p.backlog, p.lag ?? '-', p.processed, p.failed, p.inFlight ?? '-', p.lanesBusy ?? '-', oldest, p.lastError ?? ''].join('\t'));
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
