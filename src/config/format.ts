import { extname } from 'node:path';

/** Native YAML or an unchanged shotgunEventDaemon.conf: by extension, else by content (a first `[section]` line means INI). */
export function detectFormat(path: string, text: string): 'yaml' | 'shotgunevents' {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.conf' || ext === '.ini' || ext === '.cfg') return 'shotgunevents';
  const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
  return first !== undefined && /^\[[^\]]+\]$/.test(first) ? 'shotgunevents' : 'yaml';
}
