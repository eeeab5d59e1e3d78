// Text helpers shared by the status page's parts.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** 850 ms, 12 s, 4 min 5 s, 3 h 12 min, 2 d 4 h. */
export function duration(msValue: number): string {
  if (!Number.isFinite(msValue) || msValue < 0) return '–';
  if (msValue < 1000) return `${Math.round(msValue)} ms`;
  const s = Math.floor(msValue / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
