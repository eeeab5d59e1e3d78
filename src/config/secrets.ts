import type { DaemonConfig } from './types.ts';

/**
 * Every secret the daemon itself holds, by value: the site script key, the
 * status token, the SMTP password, and a password written into `site.url` or
 * `site.proxy` (both as written and decoded). Text leaving the daemon is
 * masked against these; plugin code never receives them.
 */
export function daemonSecrets(config: DaemonConfig): string[] {
  return secretValues({
    siteKey: config.site.script.key.reveal(), token: config.http.token?.reveal(), emailPassword: config.emails.password?.reveal(),
    webhookSecrets: (config.webhooks?.secrets ?? []).map((s) => s.reveal()), siteUrl: config.site.url, siteProxy: config.site.proxy,
  });
}

/** The values of `daemonSecrets`, from the settings that hold them (also read without the full config, see daemon-address.ts). */
export function secretValues(from: {
  siteKey?: string | undefined; token?: string | undefined; emailPassword?: string | undefined;
  webhookSecrets?: readonly string[]; siteUrl?: string | undefined; siteProxy?: string | undefined;
}): string[] {
  const out = new Set<string>();
  const add = (v: string | undefined): void => {
    if (v !== undefined && v.length > 0) out.add(v);
  };
  add(from.siteKey);
  add(from.token);
  add(from.emailPassword);
  for (const s of from.webhookSecrets ?? []) add(s);
  for (const url of [from.siteUrl, from.siteProxy]) {
    const password = urlPassword(url);
    add(password);
    if (password !== undefined) add(safeDecode(password));
  }
  return [...out];
}

/**
 * The environment plugin code runs with (Python plugin processes, JS plugin
 * threads): the daemon's own, less the variables the config read its secrets
 * from and any variable whose value holds one of them. Plugins keep every
 * other variable, their own keys included.
 */
export function pluginEnvironment(config: DaemonConfig, base: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const names = new Set(config.secretEnvVars);
  const secrets = daemonSecrets(config).filter((s) => s.length >= 4);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined || names.has(k) || secrets.some((s) => v.includes(s))) continue;
    env[k] = v;
  }
  return env;
}

/** `url` with any password replaced by a mask, for printing; text that is not a URL comes back as is. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.password === '') return url;
  parsed.password = '********';
  return parsed.toString();
}

function urlPassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const p = new URL(url.includes('://') ? url : `http://${url}`).password;
    return p === '' ? undefined : p;
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
