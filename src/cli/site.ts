import { ConfigError } from '../shared/index.ts';
import { DEFAULT_SCRIPT, makeSchemaDump, parseWebhookFlag, startSite } from '../site/index.ts';
import { loadConfig } from '../config/index.ts';
import { connectSite } from '../daemon/index.ts';

export interface SiteCliOptions {
  host: string;
  port: string;
  db: string;
  schema?: string;
  schemaFrom?: string;
  seed: string;
  script: string[];
  faultRate: string;
  latencyMs: string;
  pageSize: string;
  logLevel: string;
  maxFileMb: string;
  thumbnailPendingMs: string;
  webhook: string[];
  webhookDelayMs: string;
  webhookFaultRate: string;
  webhookFaultSeed?: string;
  webhookBatchWindowMs?: string;
}

const LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** One JSON line per record on stderr, at or above `level`. */
function stderrLogger(level: (typeof LEVELS)[number]) {
  const at = LEVELS.indexOf(level);
  const line = (lvl: (typeof LEVELS)[number]) => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(lvl) > at) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: msg ?? '', ...obj })}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

function num(name: string, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new ConfigError(name, `must be a number, got ${JSON.stringify(raw)}`, { value: raw });
  return v;
}

function ranged(name: string, raw: string, min: number, max: number): number {
  const v = num(name, raw);
  if (v < min || v > max) throw new ConfigError(name, `must be a number in [${min}, ${max}], got ${JSON.stringify(raw)}`, { value: raw });
  return v;
}

/** `sgeventd site`: the local ShotGrid-compatible server, until SIGINT/SIGTERM. */
export async function siteCommand(o: SiteCliOptions): Promise<void> {
  const level = LEVELS.find((l) => l === o.logLevel);
  if (level === undefined) throw new ConfigError('--log-level', `must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(o.logLevel)}`, { value: o.logLevel });
  if (o.seed !== 'demo' && o.seed !== 'empty') throw new ConfigError('--seed', `must be demo or empty, got ${JSON.stringify(o.seed)}`, { value: o.seed });
  const scripts = o.script.map((s) => {
    const i = s.indexOf(':');
    if (i <= 0 || i === s.length - 1) throw new ConfigError('--script', 'must be NAME:KEY', { value: s.slice(0, Math.max(i, 0)) });
    return { name: s.slice(0, i), key: s.slice(i + 1) };
  });
  const hooks = o.webhook.map((w) => parseWebhookFlag(w, '--webhook'));
  const webhooks = {
    hooks,
    delayMs: ranged('--webhook-delay-ms', o.webhookDelayMs, 0, 86_400_000),
    faultRate: ranged('--webhook-fault-rate', o.webhookFaultRate, 0, 1),
    ...(o.webhookFaultSeed === undefined ? {} : { faultSeed: ranged('--webhook-fault-seed', o.webhookFaultSeed, 0, 2 ** 32 - 1) }),
    ...(o.webhookBatchWindowMs === undefined ? {} : { batchWindowMs: ranged('--webhook-batch-window-ms', o.webhookBatchWindowMs, 0, 60_000) }),
  };
  if (scripts.length === 0) {
    process.stderr.write(`sgeventd site: no --script given; accepting the default script ${DEFAULT_SCRIPT.name}:${DEFAULT_SCRIPT.key} (for local use only)\n`);
  }
  const site = await startSite({
    host: o.host, port: num('--port', o.port), db: o.db, schemaFile: o.schema, schemaFrom: o.schemaFrom, seed: o.seed,
    scripts: scripts.length > 0 ? scripts : undefined, faultRate: num('--fault-rate', o.faultRate), latencyMs: num('--latency-ms', o.latencyMs),
    maxEntitiesPerPage: num('--page-size', o.pageSize),
    maxFileBytes: Math.round(num('--max-file-mb', o.maxFileMb) * 1024 * 1024),
    thumbnailPendingMs: ranged('--thumbnail-pending-ms', o.thumbnailPendingMs, 0, 600_000),
    logger: stderrLogger(level), webhooks,
  });
  process.stdout.write(`site listening on ${site.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await site.close();
}

/** `sgeventd site dump-schema`. */
export async function dumpSchemaCommand(o: { config: string }): Promise<void> {
  const config = await loadConfig(o.config);
  const conn = connectSite(config, { interactive: true });
  try {
    const dump = makeSchemaDump(await conn.client.schemaEntityRead(), await conn.client.schemaRead());
    process.stdout.write(`${JSON.stringify(dump, null, 1)}\n`);
  } finally {
    await conn.close();
  }
}
