import type { Command } from 'commander';
import { ConfigError } from '../shared/index.ts';
import { DEFAULT_SCRIPT, makeSchemaDump, parseWebhookFlag, startSite } from '../site/index.ts';
import { loadConfig } from '../config/index.ts';
import { connectSite } from '../daemon/index.ts';
import { configOption } from './options.ts';

interface SiteCliOptions {
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

/** `sgeventd site`: the local ShotGrid-compatible server. */
export function registerSiteCommand(program: Command): void {
  const siteCommand = program
    .command('site')
    .description('run a local ShotGrid-compatible site (api3 JSON over HTTP, SQLite storage)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '0')
    .option('--db <file>', 'SQLite file, or :memory:', ':memory:')
    .option('--schema <file>', 'extra entity types and fields (JSON or YAML)')
    .option('--schema-from <file>', 'serve a schema written by `sgeventd site dump-schema` instead of the built-in one')
    .option('--seed <name>', 'demo or empty', 'empty')
    .option('--script <name:key>', 'a script allowed to connect (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--fault-rate <p>', 'share of requests answered with 503 or a dropped connection', '0')
    .option('--latency-ms <n>', 'delay before every answer', '0')
    .option('--page-size <n>', 'api_max_entities_per_page reported by info and enforced by read', '500')
    .option('--log-level <level>', 'error, warn (refused requests), info, or debug (every request)', 'info')
    .option('--max-file-mb <n>', 'largest upload accepted, in MiB', '100')
    .option('--thumbnail-pending-ms <n>', 'a new thumbnail reads as the transient placeholder this long, as while a real site processes it', '0')
    .option('--webhook <url[,secret=S][,types=Shot:create|update,Task:update][,batch]>',
      'send webhooks to URL as a real site does (repeatable; no types: every entity type and operation)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--webhook-delay-ms <n>', 'send each webhook delivery this long after its change commits', '0')
    .option('--webhook-fault-rate <f>', 'share (0..1) of webhook deliveries dropped, duplicated or reordered', '0')
    .option('--webhook-fault-seed <n>', 'seed of the webhook faults, so a run repeats')
    .option('--webhook-batch-window-ms <n>', 'a batched webhook sends at once when its last request is this old (ms, default 2000 as a real site); faster changes gather until then')
    .action(async (o: SiteCliOptions) => {
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
    });
  siteCommand
    .command('dump-schema')
    .description("print a site's schema as JSON for --schema-from (schema_read and schema_entity_read; no records, no credentials)")
    .addOption(configOption())
    .action(async (o: { config: string }) => {
      const config = await loadConfig(o.config);
      const conn = connectSite(config, { interactive: true });
      try {
        const dump = makeSchemaDump(await conn.client.schemaEntityRead(), await conn.client.schemaRead());
        process.stdout.write(`${JSON.stringify(dump, null, 1)}\n`);
      } finally {
        await conn.close();
      }
    });
}
