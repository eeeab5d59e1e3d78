import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { daemonSecrets, loadConfig } from '../config/index.ts';
import { SecretMask, SgeventdError } from '../shared/index.ts';
import { openSqliteState } from '../state/index.ts';
import type { DeadLetter, SqliteStateStore } from '../state/index.ts';

export interface DlqCliOptions {
  config: string;
  plugin?: string;
  all?: boolean;
  status?: string;
  json?: boolean;
}

/** A dlq command that cannot run as asked. */
export class DlqError extends SgeventdError {
  constructor(code: 'DLQ_USAGE' | 'DLQ_NO_STATE' | 'DLQ_UNKNOWN_PLUGIN', message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details });
  }
}

/** Opens the state file named by the config; never creates one (WAL lets this run beside the daemon). */
async function openState(configPath: string): Promise<{ state: SqliteStateStore; mask: SecretMask }> {
  const config = await loadConfig(configPath);
  if (!existsSync(config.daemon.state)) {
    throw new DlqError('DLQ_NO_STATE', `no state file at ${config.daemon.state} (has the daemon run with this config?)`, { state: config.daemon.state });
  }
  // Error texts may hold a secret that plugin code put there: masked before they are printed.
  return { state: await openSqliteState(config.daemon.state), mask: new SecretMask(daemonSecrets(config)) };
}

/** Plugin ids a --plugin value names: a full id, or a plugin name (file name without extension) in any folder. */
async function pluginIds(state: SqliteStateStore, plugin: string): Promise<string[]> {
  const ids = new Set([...(await state.loadPlugins()).map((p) => p.id), ...(await state.deadLetters.list()).map((d) => d.pluginId)]);
  return [...ids].filter((id) => id === plugin || basename(id) === plugin);
}

function parseIds(ids: readonly string[], all: boolean | undefined): number[] | 'all' {
  if (all && ids.length > 0) throw new DlqError('DLQ_USAGE', 'give dead-letter ids or --all, not both');
  if (all) return 'all';
  if (ids.length === 0) throw new DlqError('DLQ_USAGE', 'give dead-letter ids (see `sgeventd dlq ls`) or --all');
  return ids.map((raw) => {
    if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new DlqError('DLQ_USAGE', `dead-letter ids are positive integers, got ${JSON.stringify(raw)}`, { value: raw });
    return Number(raw);
  });
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function formatDeadLetterTable(rows: readonly DeadLetter[]): string {
  const header = ['ID', 'PLUGIN', 'CALLBACK', 'EVENT', 'ATTEMPTS', 'STATUS', 'ERROR'];
  const cells = rows.map((d) => [String(d.id), basename(d.pluginId), d.callback, String(d.eventId), String(d.attempts), d.status, oneLine(d.error, 80)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(header), ...cells.map(fmt)].join('\n');
}

async function withState<T>(o: DlqCliOptions, fn: (state: SqliteStateStore, ids: string[] | undefined, mask: SecretMask) => Promise<T>): Promise<T> {
  const { state, mask } = await openState(o.config);
  try {
    let ids: string[] | undefined;
    if (o.plugin !== undefined) {
      ids = await pluginIds(state, o.plugin);
      if (ids.length === 0) throw new DlqError('DLQ_UNKNOWN_PLUGIN', `no plugin named ${o.plugin} in ${state.path}`, { plugin: o.plugin });
    }
    return await fn(state, ids, mask);
  } finally {
    await state.close();
  }
}

/** `sgeventd dlq retry|drop [ID...|--all]`. */
export async function dlqChangeCommand(action: 'retry' | 'drop', idArgs: string[], o: DlqCliOptions): Promise<void> {
  const ids = parseIds(idArgs, o.all);
  const config = await loadConfig(o.config);
  const n = config.cluster !== undefined ? await (await import('./dlq-cluster.ts')).withClusterDeadLetters(config, o.plugin, async (book, plugins) => {
    const run = (pluginId?: string) => (action === 'retry' ? book.requestRetry(ids, pluginId) : book.drop(ids, pluginId));
    if (plugins === undefined) return run();
    let total = 0;
    for (const p of plugins) total += await run(p);
    return total;
  }) : await withState(o, async (state, plugins) => {
    const run = (pluginId?: string) => (action === 'retry' ? state.deadLetters.requestRetry(ids, pluginId) : state.deadLetters.drop(ids, pluginId));
    if (plugins === undefined) return run();
    let total = 0;
    for (const p of plugins) total += await run(p);
    return total;
  });
  const noun = `dead letter${n === 1 ? '' : 's'}`;
  process.stdout.write(action === 'retry' ? `marked ${n} ${noun} for retry; the daemon takes them on its next pass\n` : `dropped ${n} ${noun}\n`);
}

/** `sgeventd dlq ls`. */
export async function dlqListCommand(o: DlqCliOptions): Promise<void> {
  if (o.status !== undefined && o.status !== 'dead' && o.status !== 'retry') throw new DlqError('DLQ_USAGE', `--status must be dead or retry, got ${JSON.stringify(o.status)}`);
  const status = o.status;
  const config = await loadConfig(o.config);
  if (config.cluster !== undefined) {
    const cluster = await import('./dlq-cluster.ts');
    const mask = new SecretMask(daemonSecrets(config));
    const rows = await cluster.withClusterDeadLetters(config, o.plugin, (book, plugins) => cluster.listClusterDeadLetters(book, plugins, status));
    printDeadLetters(mask.maskJson(rows.map(({ key: _key, ...d }) => d)), o.json === true);
    return;
  }
  const rows = await withState(o, async (state, plugins, mask) => {
    const all = await state.deadLetters.list(status === undefined ? {} : { status });
    return mask.maskJson(plugins === undefined ? all : all.filter((d) => plugins.includes(d.pluginId)));
  });
  printDeadLetters(rows, o.json === true);
}

function printDeadLetters(rows: readonly DeadLetter[], json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else process.stdout.write(rows.length === 0 ? 'no dead letters\n' : `${formatDeadLetterTable(rows)}\n`);
}
