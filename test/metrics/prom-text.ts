/**
 * A strict-enough reader of the Prometheus text exposition format (0.0.4):
 * every line is a HELP/TYPE comment or a sample `name{label="value",...} value`.
 * Throws on the first line that is neither, so a test fails with that line.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  samples: PromSample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})?[ \\t]+(\\S+)(?:[ \\t]+-?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME})(?: (.*))?$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const ONE_LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;

export function parsePromText(text: string): PromText {
  const out: PromText = { samples: [], types: new Map(), help: new Map() };
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const h = HELP.exec(line);
      if (h?.[1] !== undefined) {
        out.help.set(h[1], h[2] ?? '');
        continue;
      }
      const t = TYPE.exec(line);
      if (t?.[1] !== undefined && t[2] !== undefined) {
        if (out.types.has(t[1])) throw new Error(`line ${i + 1}: second TYPE for ${t[1]}`);
        out.types.set(t[1], t[2]);
        continue;
      }
      if (line.startsWith('# HELP') || line.startsWith('# TYPE')) throw new Error(`line ${i + 1}: malformed comment: ${line}`);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m?.[1] || m[3] === undefined) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const value = parseValue(m[3]);
    if (value === undefined) throw new Error(`line ${i + 1}: bad value: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(ONE_LABEL)) {
      if (l[1] !== undefined && l[2] !== undefined) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.samples.push({ name: m[1], labels, value });
  }
  return out;
}

/** As Go's strconv.ParseFloat, which Prometheus uses: NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(raw: string): number | undefined {
  const lower = raw.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  return /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : undefined;
}

/** The value of one series, or undefined when it is absent. */
export function sampleValue(text: PromText, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  const hit = text.samples.find((s) => s.name === name && want.every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === want.length);
  return hit?.value;
}
