// `site.proxy` for every connection to the site: the daemon's own client,
// plugin threads' `sg` (undici) and Python `sg` (shotgun_api3's http_proxy).
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

// undici (about 110 files) loads when the first pool is made, not with this
// module: a daemon without a proxy never needs it before its first event.
const requireUndici = (): typeof Undici => createRequire(import.meta.url)('undici') as typeof Undici;

/** The proxy as a URL (`host:port` means `http://host:port`), as undici takes it. */
export function proxyUrl(proxy: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/**
 * The proxy as shotgun_api3's `http_proxy` takes it: `[user:pass@]host[:port]`
 * (no scheme; the official client adds port 8080 when none is given).
 */
export function api3Proxy(proxy: string): string {
  const u = new URL(proxyUrl(proxy));
  const creds = u.username === '' ? '' : `${decodeURIComponent(u.username)}${u.password === '' ? '' : `:${decodeURIComponent(u.password)}`}@`;
  return `${creds}${u.hostname}${u.port === '' ? '' : `:${u.port}`}`;
}

/** One keep-alive pool to the site: through `proxy` when one is set. */
export function siteDispatcher(proxy: string | undefined, options: { keepAliveTimeout?: number } = {}): Dispatcher {
  const { Agent, ProxyAgent } = requireUndici();
  return proxy === undefined ? new Agent(options) : new ProxyAgent({ uri: proxyUrl(proxy), ...options });
}
