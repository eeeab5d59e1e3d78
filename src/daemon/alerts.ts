import type { DaemonConfig } from '../config/index.ts';
import type { PluginFailure, PluginLoadFailure, TimingRecord } from '../dispatch/index.ts';
import type { Alert, MailedRecord } from '../logging/index.ts';
import type { EmailRecipients } from '../plugins/index.ts';
import type { LogAgeWarning, WebhookSilence } from '../source/index.ts';

/** Silent-webhook mail goes out at most this often. */
export const WEBHOOK_SILENT_MAIL_INTERVAL_MS = 3_600_000;

/** The mail sent when the webhook went silent (at most once an hour). */
export function webhookSilentAlert(config: DaemonConfig, s: WebhookSilence): Alert {
  return {
    // Mailed under the default `emails.minLevel` (error): a disabled webhook fails quietly otherwise.
    level: 'error', plugin: null, title: 'webhook silent, falling back to polling',
    body: `Polling found event ${s.eventId} (${s.eventType}) on ${config.site.url}, a type the site's webhook is subscribed to (webhooks.expect), `
      + `and no delivery covered it within ${config.webhooks?.silentAfterMs ?? 0} ms (the last delivery announced event ${s.lastDeliveredId}).\n\n`
      + `Events still reach plugins by polling every ${config.webhooks?.fallbackPollMs ?? 0} ms. Check the webhook's status on the site `
      + '(a webhook that failed 100 deliveries in a day is disabled) and that the receiver is reachable.',
  };
}

/** The mail sent when the site stops answering (`maxConnRetries` reads in a row) and when it answers again. */
export function siteAlert(config: DaemonConfig, kind: 'site-down' | 'site-up', err: unknown): Alert {
  return kind === 'site-down'
    ? {
        level: 'error', plugin: null, title: 'site unreachable',
        body: `${config.site.maxConnRetries} requests to ${config.site.url} failed in a row; still retrying.\n\n${String(err)}`,
      }
    : { level: 'warn', plugin: null, title: 'site reachable again', body: `${config.site.url} answers again.` };
}

/*
 * Who is mailed, as shotgunEvents means it: what a plugin's own code does
 * (its callbacks, its logger, its import) goes to its `setEmails` recipients;
 * what the engine finds (a registration it refuses, the site, the state file)
 * goes to `emails.to`.
 */

/** The mail sent when a callback failed: the plugin was deactivated, or the event skipped and dead-lettered. */
export function laneAlert(f: PluginFailure): Alert {
  return {
    level: 'error',
    plugin: f.plugin,
    recipients: f.emails ?? true,
    title: f.action === 'deactivated' ? `deactivated at event ${f.eventId}` : `callback ${f.callback ?? ''} failed on event ${f.eventId}`,
    body: `Plugin ${f.plugin}, callback ${f.callback ?? '(load)'}, event ${f.eventId}: ${f.error.message}\n\n${f.error.stack ?? ''}\n\n${
      f.error.code === 'EVENT_LOG_CULLED'
        ? 'The plugin is stopped before the culled range. Run `sgeventd plugin ack-gap <plugin>` to accept the loss; it then resumes at the oldest event the site keeps.'
        : f.action === 'deactivated'
        ? 'The plugin is deactivated with its cursor on this event. Fix it and save the file (or run `sgeventd plugin enable`) to replay from here.'
        : 'The event was skipped for this callback and kept as a dead letter (`sgeventd dlq ls`).'
    }`,
  };
}

/** The mail sent when a plugin failed to load: an import failure to the plugin's recipients, a registration failure to `emails.to`. */
export function loadAlert(f: PluginLoadFailure): Alert {
  const imported = f.error.code === 'PLUGIN_IMPORT_FAILED';
  return {
    level: imported ? 'error' : 'fatal',
    plugin: f.plugin,
    recipients: imported ? f.emails : true,
    title: imported ? 'could not load the plugin' : 'registering the plugin\'s callbacks failed',
    body: `Plugin ${f.plugin} failed to load (${f.error.code}): ${f.error.message}\n\n${f.error.stack ?? ''}\n\n`
      + 'It is loaded again when its file changes (or after reactivateAfterMs, when set).',
  };
}

/** The mail for an ERROR or CRITICAL record of a plugin's own logger. */
export function pluginRecordAlert(plugin: string, r: MailedRecord, recipients: EmailRecipients): Alert {
  return { level: r.level, plugin, recipients, title: r.msg.split('\n')[0] ?? '', body: `${r.msg}${r.detail === null ? '' : `\n\n${r.detail}`}` };
}

/** The mail sent when the daemon cannot write its state file (once until a write succeeds again). */
export function stateWriteAlert(config: DaemonConfig, err: unknown): Alert {
  return {
    level: 'fatal', plugin: null, title: 'writing the state file failed',
    body: `Writing ${config.daemon.state} failed; the changes are kept in memory and written at the next flush. `
      + `Until then a restart replays the events since the last write.\n\n${err instanceof Error ? err.stack ?? err.message : String(err)}`,
  };
}

/** One line of the timing log (shotgunEvents' timing_log fields). */
export function timingLine(r: TimingRecord): Record<string, unknown> {
  return {
    event: r.eventId, plugin: r.plugin, callback: r.callback, start: r.startedAt.toISOString(),
    duration_ms: Math.round(r.durationMs * 1000) / 1000, delay_ms: r.delayMs, error: r.error,
  };
}

/** A plugin's oldest unread event nears the age at which a hosted site culls its event log. */
export function logAgeAlert(w: LogAgeWarning): Alert {
  return {
    level: 'warn',
    plugin: w.plugin,
    title: `unread events ${w.ageDays} days old`,
    body: `Plugin ${w.plugin} has not finished event ${w.eventId}, created ${w.createdAt} (${w.ageDays} days ago). `
      + 'A hosted site keeps its event log readable for about six months; events culled before the plugin reads them are lost to it '
      + '(it then stops with EVENT_LOG_CULLED until `sgeventd plugin ack-gap`). Bring the plugin back, or let it catch up, before then.',
  };
}
