import { join, resolve } from 'node:path';
import type { PluginRef } from './types.ts';

/**
 * The stable key of a plugin: its folder (made absolute, normalised) joined
 * with its name, i.e. the plugin file's path without extension.
 *
 * @example
 * pluginId({ folder: '/srv/plugins/', name: 'notify' }) // '/srv/plugins/notify'
 */
export function pluginId(ref: PluginRef): string {
  return join(resolve(ref.folder), ref.name);
}

/** The ids among `ids` that a user's `name` means: the full id, or a plugin name (the id's last path part). */
export function matchPluginIds(ids: Iterable<string>, name: string): string[] {
  return [...ids].filter((id) => id === name || id.split(/[\\/]/).at(-1) === name);
}

/**
 * Site URLs compare equal when they differ only in scheme or host case, a
 * default port, or trailing slashes.
 */
export function normalizeSiteUrl(url: string): string {
  try {
    const u = new URL(url.trim());
    const path = u.pathname.replace(/\/+$/, '');
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return url.trim().replace(/\/+$/, '').toLowerCase();
  }
}
