import type { HistoryDocument } from '../metrics/index.ts';
import { CHART_STYLE, historySection } from './page-charts.ts';
import { duration, escapeHtml } from './page-html.ts';
import type { StatusDocument } from './status.ts';

export { duration, escapeHtml };

/** Seconds between automatic reloads of the page. */
export const REFRESH_SECONDS = 5;

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
  --ok: #1f7a3d; --okbg: #e3f4e8; --bad: #a8261c; --badbg: #fbe4e1; --warn: #8a5a00; --warnbg: #fdf1d8; --idle: #46505f; --idlebg: #eceff3; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px; margin-bottom: 14px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 26px 0 8px; }
.muted { color: var(--muted); }
.site { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th.num { text-align: right; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.error { max-width: 46ch; white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; color: var(--bad); }
td.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; overflow-wrap: anywhere; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.state.ok { color: var(--ok); background: var(--okbg); }
.state.bad { color: var(--bad); background: var(--badbg); }
.state.warn { color: var(--warn); background: var(--warnbg); }
.state.idle { color: var(--idle); background: var(--idlebg); }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
`;

const STATE_CLASS: Record<string, string> = {
  running: 'ok', ready: 'ok', busy: 'ok',
  deactivated: 'bad', 'load-failed': 'bad', refused: 'bad', failed: 'bad', dead: 'bad', crashed: 'bad',
  loading: 'warn', starting: 'warn', stopping: 'warn', retry: 'warn',
};

/**
 * What the page shows besides the status itself. Each section is its own
 * function of the documents; a new part of the page is one more entry in
 * `sections` below.
 */
export interface PageExtras {
  /** The daemon's samples for the charts; absent: no charts. */
  history?: HistoryDocument | undefined;
}

/** The status page: plain server-rendered HTML (charts are inline SVG), no script, reloaded every few seconds. */
export function renderStatusPage(doc: StatusDocument, extras: PageExtras = {}): string {
  const now = Date.parse(doc.generatedAt);
  const sections = [
    clusterSection(doc),
    webhookSection(doc),
    historySection(extras.history, now),
    `<h2>Plugins</h2>\n${ageWarnings(doc)}${pluginTable(doc)}\n`,
    `<h2>Project runtimes</h2>\n${runtimeTable(doc)}\n`,
    `<h2>Recent dead letters</h2>\n${deadLetterTable(doc, now)}\n`,
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<title>sgeventd · ${escapeHtml(doc.site)}</title>
<style>${STYLE}${CHART_STYLE}</style>
</head>
<body>
<header>
  <h1>sgeventd</h1>
  <span class="site" data-testid="site">${escapeHtml(doc.site)}</span>
  <span class="muted">pid ${escapeHtml(doc.pid)} · up ${escapeHtml(duration(doc.uptimeMs))}</span>
</header>
<section class="cards">
  ${card('Newest event', String(doc.newestEventId), 'newest-event')}
  ${card('Lag (events)', doc.lag === null ? '–' : String(doc.lag), 'lag')}
  ${card('Last poll', `${duration(doc.lastPollAgeMs)} ago`, 'last-poll')}
  ${card('Site errors', String(doc.siteErrors), 'site-errors')}
</section>
${sections.join('')}<footer>Updated ${escapeHtml(doc.generatedAt)} · reloads every ${REFRESH_SECONDS} s ·
JSON at <a href="api/status">/api/status</a> and <a href="api/history">/api/history</a> · <a href="metrics">/metrics</a> · <a href="healthz">/healthz</a></footer>
</body>
</html>
`;
}

/** Plugins whose oldest unread event nears the age at which a hosted site culls its log. */
function ageWarnings(doc: StatusDocument): string {
  const warned = doc.plugins.filter((p) => p.logAgeWarning !== null);
  if (warned.length === 0) return '';
  return warned.map((p) => `<p class="state warn" data-testid="log-age-warning" data-plugin="${escapeHtml(p.name)}">${escapeHtml(p.name)}: its oldest unread event (${escapeHtml(p.logAgeWarning?.eventId)}, ${escapeHtml(p.logAgeWarning?.createdAt)}) is ${escapeHtml(p.logAgeWarning?.ageDays)} days old; a hosted site culls its event log after about six months</p>`).join('\n') + '\n';
}

/** A project by its name (its id on hover); the id alone when the site did not tell its name. */
function projectLabel(doc: StatusDocument, id: number): string {
  const name = doc.projects[String(id)];
  return name === undefined ? escapeHtml(id) : `<span title="project ${escapeHtml(id)}">${escapeHtml(name)}</span>`;
}

function card(label: string, value: string, id: string): string {
  return `<div class="card"><div class="label">${escapeHtml(label)}</div><div class="value" data-testid="${id}">${escapeHtml(value)}</div></div>`;
}

function stateBadge(state: string): string {
  return `<span class="state ${STATE_CLASS[state] ?? 'idle'}">${escapeHtml(state)}</span>`;
}

/** A header ending in `#` heads a column of numbers (right-aligned like its cells). */
function table(headers: string[], rows: string[], empty: string, id: string): string {
  if (rows.length === 0) return `<p class="empty" data-testid="${id}-empty">${escapeHtml(empty)}</p>`;
  const head = headers.map((h) => (h.endsWith('#') ? `<th class="num">${escapeHtml(h.slice(0, -1))}</th>` : `<th>${escapeHtml(h)}</th>`)).join('');
  return `<table data-testid="${id}"><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function pluginTable(doc: StatusDocument): string {
  const rows = doc.plugins.map((p) => `<tr>
<td title="${escapeHtml(p.id)}"><strong>${escapeHtml(p.name)}</strong></td><td>${escapeHtml(p.kind)}</td><td>${stateBadge(p.status)}</td>
<td class="num">${escapeHtml(p.lastEventId ?? '–')}</td><td class="num">${escapeHtml(p.backlog)}</td><td class="num">${escapeHtml(p.lag ?? '–')}</td>
<td class="num">${escapeHtml(p.processed)}${sinceReload(p.processed, p.processedSinceReload)}</td><td class="num">${escapeHtml(p.failed)}${sinceReload(p.failed, p.failedSinceReload)}</td><td class="num">${escapeHtml(p.meanMs === null ? '–' : ms(p.meanMs))}</td>
<td class="num">${escapeHtml(p.inFlight)}</td><td class="num">${escapeHtml(p.lanesBusy)}</td><td class="num">${escapeHtml(p.oldestUnfinished === null ? '–' : `${p.oldestUnfinished} (lag ${p.oldestUnfinishedLag ?? '–'})`)}</td>
<td class="error">${escapeHtml(p.lastError ?? '')}</td></tr>`);
  return table(['Plugin', 'Kind', 'State', 'Cursor#', 'Backlog#', 'Lag#', 'Processed#', 'Failed#', 'Mean#', 'In flight#', 'Lanes busy#', 'Oldest unfinished#', 'Last error'], rows, 'No plugins loaded.', 'plugins');
}

// Totals are since the daemon started; after a reload the count of the current load shows beside them.
function sinceReload(total: number, since: number): string {
  return since === total ? '' : ` <span class="muted" title="since the last reload">(${escapeHtml(since)})</span>`;
}

function mb(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(1)} MB`;
}

function runtimeTable(doc: StatusDocument): string {
  const rows = doc.runtimes.map((r) => `<tr>
<td data-testid="runtime-projects">${r.projects.length > 0 ? r.projects.map((id) => projectLabel(doc, id)).join(', ') : '–'}</td><td>${escapeHtml(r.coreVersion ?? '–')}</td><td>${escapeHtml(r.mode)}</td>
<td class="num">${escapeHtml(r.pid ?? '–')}</td><td class="num">${escapeHtml(mb(r.rssMb))}</td>
<td class="num">${escapeHtml(r.calls)}</td><td class="num">${escapeHtml(r.pending)}</td><td class="num">${escapeHtml(r.ageMs > 0 ? duration(r.ageMs) : '–')}</td>
<td>${stateBadge(r.state)}</td><td class="mono">${escapeHtml(r.key)}</td><td class="num">${escapeHtml(mb(r.peakRssMb))}</td></tr>`);
  return table(['Projects', 'Core', 'Mode', 'PID#', 'RSS#', 'Calls#', 'Pending#', 'Age#', 'State', 'Key', 'Peak RSS#'], rows, 'No project runtimes running.', 'runtimes');
}

function deadLetterTable(doc: StatusDocument, now: number): string {
  if (doc.deadLetters === null) return '<p class="empty">Dead letters are not reported by this daemon; see <code>sgeventd dlq ls</code>.</p>';
  const rows = doc.deadLetters.map((d) => `<tr>
<td class="num">${escapeHtml(d.id)}</td><td>${escapeHtml(d.plugin)}</td><td>${escapeHtml(d.callback)}</td><td class="num">${escapeHtml(d.eventId)}</td>
<td class="num">${escapeHtml(d.attempts)}</td><td>${stateBadge(d.status)}</td><td class="num" title="${escapeHtml(d.createdAt)}">${escapeHtml(`${duration(now - Date.parse(d.createdAt))} ago`)}</td>
<td class="error">${escapeHtml(d.error)}</td></tr>`);
  return table(['##', 'Plugin', 'Callback', 'Event#', 'Attempts#', 'Status', 'When#', 'Error'], rows, 'No dead letters.', 'dead-letters');
}

function webhookSection(doc: StatusDocument): string {
  const w = doc.webhooks;
  if (w === null || w === undefined) return '';
  const state = w.silent === null
    ? stateBadge('running')
    : `<span class="state bad" data-testid="webhook-silent">webhook silent since ${escapeHtml(w.silent.since)}, falling back to polling (event ${escapeHtml(w.silent.eventId)}, ${escapeHtml(w.silent.eventType)})</span>`;
  const counts = Object.entries(w.deliveries).map(([k, v]) => `${k} ${v}`).join(' · ');
  return `<h2>Webhooks</h2>
<p data-testid="webhooks">${state} <span class="muted">last delivery ${escapeHtml(w.lastDeliveryAt ?? 'never')} (event ${escapeHtml(w.lastDeliveredId)}) · ${escapeHtml(counts)}</span></p>
`;
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : value < 1000 ? `${value.toFixed(1)} ms` : `${(value / 1000).toFixed(2)} s`;
}


/** A cluster node's view: NATS, the poller's holder, each plugin's holder and cursor, and the nodes that answered. */
function clusterSection(doc: StatusDocument): string {
  const c = doc.cluster;
  if (c === undefined) return '';
  const nats = c.connected ? stateBadge('running') : '<span class="state bad" data-testid="cluster-disconnected">disconnected from NATS</span>';
  const plugins = c.plugins.map((p) => `<tr>
<td title="${escapeHtml(p.id)}"><strong>${escapeHtml(p.name)}</strong></td><td>${escapeHtml(p.holder ?? '–')}</td><td>${stateBadge(p.role === 'active' ? 'running' : p.role)}</td>
<td class="num">${escapeHtml(p.highSeq ?? '–')}</td><td class="num">${escapeHtml(p.highId ?? '–')}</td><td class="num">${escapeHtml(p.pending)}</td>
<td class="num">${escapeHtml(p.lag ?? '–')}</td><td class="num">${escapeHtml(p.inFlight)}</td></tr>`);
  const nodes = (c.nodes ?? []).map((n) => `<tr>
<td><strong>${escapeHtml(n.nodeId)}</strong>${n.nodeId === c.nodeId ? ' <span class="muted">(this node)</span>' : ''}</td><td>${escapeHtml(n.host)}</td>
<td class="num">${escapeHtml(n.pid)}</td><td>${escapeHtml(n.startedAt)}</td><td>${escapeHtml(n.active.join(', ') || '–')}</td><td class="num">${escapeHtml(n.runtimes.length)}</td></tr>`);
  return `<h2>Cluster ${escapeHtml(c.cluster)}</h2>
<p data-testid="cluster">node <strong>${escapeHtml(c.nodeId)}</strong> · NATS ${nats} <span class="muted">stream ${escapeHtml(c.stream)}, last message ${escapeHtml(c.streamLastSeq ?? '–')} ·
poller held by ${escapeHtml(c.pollerHolder ?? 'nobody')} · read ${escapeHtml(c.refreshedAt ?? 'not yet')}</span></p>
${table(['Node', 'Host', 'PID#', 'Started', 'Plugins held', 'Runtimes#'], nodes, 'No node answered yet.', 'cluster-nodes')}
${table(['Plugin', 'Holder', 'This node', 'Stream seq#', 'Event#', 'Pending#', 'Lag#', 'In flight#'], plugins, 'No plugins.', 'cluster-plugins')}
`;
}
