import type { HistoryDocument, HistoryPoint } from '../metrics/index.ts';
import { duration, escapeHtml } from './page-html.ts';

/** One line of a chart. `tone` picks its colour from the page's style. */
interface Series {
  name: string;
  points: readonly HistoryPoint[];
  tone: 'a' | 'b';
}

interface ChartBox {
  id: string;
  label: string;
  width: number;
  height: number;
  /** The chart's time span ends at `now` and lasts `windowMs`. */
  now: number;
  windowMs: number;
}

const PAD = { left: 4, right: 4, top: 16, bottom: 4 };

export const CHART_STYLE = `
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 10px; }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.chart .label { color: var(--muted); font-size: 12px; display: flex; justify-content: space-between; gap: 8px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart polyline { fill: none; stroke-width: 1.6; vector-effect: non-scaling-stroke; }
.chart polyline.a { stroke: #2f6fdb; }
.chart polyline.b { stroke: #1f7a3d; stroke-dasharray: 3 2; }
.chart line.axis { stroke: var(--line); }
.chart text { font-size: 10px; fill: var(--muted); }
.legend-a { color: #2f6fdb; } .legend-b { color: #1f7a3d; }
`;

/**
 * A line chart as inline SVG (no script, nothing fetched): time runs left to
 * right over the window, values from 0 to the largest one. A null value
 * breaks the line, so a gap in the samples shows as one.
 */
export function lineChart(series: readonly Series[], box: ChartBox): string {
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.value ?? 0)));
  const w = box.width - PAD.left - PAD.right;
  const h = box.height - PAD.top - PAD.bottom;
  const x = (at: number): number => PAD.left + w * Math.min(1, Math.max(0, 1 - (box.now - at) / box.windowMs));
  const y = (v: number): number => PAD.top + h * (1 - v / max);
  const lines = series.flatMap((s) => runs(s.points).map((run) =>
    `<polyline class="${s.tone}" data-series="${escapeHtml(s.name)}" points="${run.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ')}"/>`));
  return `<svg data-testid="${escapeHtml(box.id)}" viewBox="0 0 ${box.width} ${box.height}" role="img" aria-label="${escapeHtml(box.label)}">
<line class="axis" x1="${PAD.left}" y1="${PAD.top + h}" x2="${PAD.left + w}" y2="${PAD.top + h}"/>
<text x="${PAD.left}" y="11">${escapeHtml(round(max))}</text>
${lines.join('\n')}
</svg>`;
}

/** Runs of consecutive known values; a single point is drawn as a tiny flat line so it shows. */
function runs(points: readonly HistoryPoint[]): Array<Array<{ at: number; value: number }>> {
  const out: Array<Array<{ at: number; value: number }>> = [];
  let current: Array<{ at: number; value: number }> = [];
  for (const p of points) {
    if (p.value === null) {
      if (current.length > 0) out.push(current);
      current = [];
    } else current.push({ at: p.at, value: p.value });
  }
  if (current.length > 0) out.push(current);
  return out.map((r) => (r.length === 1 ? [r[0]!, { at: r[0]!.at + 1, value: r[0]!.value }] : r));
}

function round(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, '') || '0';
}

function last(points: readonly HistoryPoint[]): string {
  const v = points.at(-1)?.value;
  return v === null || v === undefined ? '–' : round(v);
}

/** The "Last hour" section: events per second, and each plugin's lag. */
export function historySection(history: HistoryDocument | undefined, now: number): string {
  if (history === undefined) return '';
  const span = history.windowMs >= 3_600_000 ? `${Math.round(history.windowMs / 3_600_000)} h` : `${Math.round(history.windowMs / 60_000)} min`;
  const box = { width: 300, height: 70, now, windowMs: history.windowMs };
  const rates = `<div class="chart"><div class="label"><span>Events per second</span><span><span class="legend-a">log ${escapeHtml(last(history.eventsPerSecond))}</span> · <span class="legend-b">handled ${escapeHtml(last(history.handledPerSecond))}</span></span></div>
${lineChart([{ name: 'log', points: history.eventsPerSecond, tone: 'a' }, { name: 'handled', points: history.handledPerSecond, tone: 'b' }], { ...box, id: 'chart-events', label: 'events per second' })}</div>`;
  const lags = Object.entries(history.lag).map(([plugin, points]) => `<div class="chart" data-testid="lag-chart" data-plugin="${escapeHtml(plugin)}"><div class="label"><span>Lag · ${escapeHtml(plugin)}</span><span>${escapeHtml(last(points))} events</span></div>
${lineChart([{ name: plugin, points, tone: 'a' }], { ...box, id: 'chart-lag', label: `lag of ${plugin}` })}</div>`);
  return `<h2>Last ${escapeHtml(span)} <span class="muted">(a sample every ${escapeHtml(duration(history.sampleMs))})</span></h2>
<section class="charts" data-testid="history">
${rates}
${lags.join('\n')}
</section>
`;
}
