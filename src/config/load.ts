import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigReadError } from './errors.ts';
import { detectFormat } from './format.ts';
import { parseConfig } from './parse.ts';
import { loadShotgunEventsConf } from './shotgunevents-conf.ts';
import type { DaemonConfig } from './types.ts';

/**
 * Loads a native `sgeventd.yaml` or an unchanged `shotgunEventDaemon.conf`
 * (chosen by extension: .yaml/.yml vs .conf/.ini/.cfg; otherwise by content:
 * a first `[section]` line means INI). Throws ConfigReadError
 * (CONFIG_NOT_FOUND, CONFIG_SYNTAX, ...) or ConfigValidationError (CONFIG_INVALID).
 *
 * @example
 * const config = await loadConfig('/etc/sgeventd/sgeventd.yaml');
 */
export async function loadConfig(path: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<DaemonConfig> {
  const source = resolve(path);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE';
    throw new ConfigReadError(code, source, `cannot read config ${source}: ${(cause as Error).message}`, { cause });
  }
  if (detectFormat(source, text) === 'shotgunevents') return loadShotgunEventsConf(source, env);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0];
    throw new ConfigReadError('CONFIG_SYNTAX', source, `${source}${line ? `:${line.line}:${line.col}` : ''}: ${first.message}`, {
      cause: first,
      details: { errors: doc.errors.map((e) => ({ message: e.message, line: e.linePos?.[0]?.line, col: e.linePos?.[0]?.col })) },
    });
  }
  return parseConfig(doc.toJS(), { source, env });
}
