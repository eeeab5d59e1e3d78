// What `status` and `plugin ls|enable|disable` need from a config to reach a
// running daemon or its state file: the pid and state files, the status
// token, the secrets to mask. Read from a native YAML config without the
// schema (zod) and its compilation, which cost several times a bare Node start;
// only those keys are checked. Anything else (a shotgunEventDaemon.conf, a
// needed key of the wrong type, an unset variable) answers null, and the
// command loads the config in full, with its complete, coded errors. A
// command that uses more of the config (the site, the cluster) loads it in full too.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { Secret } from '../shared/index.ts';
import { DAEMON_FILE_DEFAULTS } from './file-defaults.ts';
import { detectFormat } from './format.ts';
import { interpolateEnv } from './interpolate.ts';
import { daemonSecrets, secretValues } from './secrets.ts';
import type { DaemonConfig } from './types.ts';

/** The parts of a config (the same shape as `DaemonConfig`'s) that reach a daemon; a `DaemonConfig` is one. */
export interface DaemonAddress {
  readonly source: string;
  readonly daemon: { readonly pidFile: string; readonly state: string };
  readonly http: { readonly token?: Secret | undefined };
  /** A cluster config: its plugin flags live in NATS, not in a state file. */
  readonly cluster?: unknown;
}

/** A full config's address, with its secrets. */
export function addressOf(config: DaemonConfig): { address: DaemonAddress; secrets: string[] } {
  return { address: config, secrets: daemonSecrets(config) };
}

type Tree = Record<string, unknown>;

function section(tree: Tree, key: string): Tree | null | undefined {
  const v = tree[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'object' && !Array.isArray(v) ? (v as Tree) : null;
}

/**
 * The address and secrets of the native YAML config at `path`, or null when
 * it must be loaded in full (see above). Never throws for a config's content.
 */
export async function readDaemonAddress(path: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<{ address: DaemonAddress; secrets: string[] } | null> {
  const source = resolve(path);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch {
    return null;
  }
  if (detectFormat(source, text) !== 'yaml') return null;
  let raw: unknown;
  try {
    raw = parse(text, { uniqueKeys: true });
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const interpolated = interpolateEnv(raw, env);
  if (interpolated.issues.length > 0) return null;
  const tree = interpolated.value as Tree;
  const site = section(tree, 'site');
  const daemon = section(tree, 'daemon') ?? {};
  const http = section(tree, 'http') ?? {};
  const emails = section(tree, 'emails') ?? {};
  const webhooks = section(tree, 'webhooks') ?? {};
  const script = site ? section(site, 'script') : undefined;
  if (!site || !script || daemon === null || http === null || emails === null || webhooks === null) return null;
  const str = (t: Tree, k: string): string | undefined | null => (t[k] === undefined ? undefined : typeof t[k] === 'string' ? t[k] : null);
  // undefined: not set (the default); null: set to something else than text (refused by the full load).
  const pidFile = str(daemon, 'pidFile');
  const state = str(daemon, 'state');
  const token = str(http, 'token');
  const siteKey = str(script, 'key');
  const siteUrl = str(site, 'url');
  const siteProxy = str(site, 'proxy');
  const emailPassword = str(emails, 'password');
  const hooks: unknown = webhooks['secrets'] ?? [];
  if (pidFile === null || state === null || token === null || siteKey === null || siteUrl === null || siteProxy === null || emailPassword === null) return null;
  if (!Array.isArray(hooks) || !hooks.every((s): s is string => typeof s === 'string')) return null;
  // Relative paths resolve against the config's folder, as the full load does.
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(source), p));
  const address: DaemonAddress = {
    source,
    daemon: { pidFile: abs(pidFile ?? DAEMON_FILE_DEFAULTS.pidFile), state: abs(state ?? DAEMON_FILE_DEFAULTS.state) },
    http: { token: typeof token === 'string' ? new Secret(token) : undefined },
    ...(tree['cluster'] === undefined || tree['cluster'] === null ? {} : { cluster: tree['cluster'] }),
  };
  const secrets = secretValues({ siteKey, token, emailPassword, webhookSecrets: hooks, siteUrl, siteProxy });
  return { address, secrets };
}
