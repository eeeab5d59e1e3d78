/**
 * url (file/link) fields as a site stores them (python-api docs/reference.rst "url"):
 * a local file link written as `{local_path}` or `{relative_path, local_storage}` is
 * resolved against the LocalStorage records into `link_type: 'local'` with
 * `local_path_{linux,mac,windows}`, `local_storage`, `relative_path` and a `file://`
 * url, which Toolkit's path cache and publish code read back (tk-core path_cache.py,
 * publish_creation.py). A local path under no storage keeps `local_storage: null`,
 * the shape a site gives when a storage is gone (tk-core skips those). Web links get
 * `link_type: 'url'`.
 */
import type { SiteStore } from './store.ts';
import { clientFault } from './faults.ts';

interface Storage {
  id: number;
  code: string | null;
  linux_path: string | null;
  mac_path: string | null;
  windows_path: string | null;
}

const trimEnd = (p: string) => p.replace(/[\\/]+$/, '');

function join(root: string | null, rel: string, sep: '/' | '\\'): string | null {
  if (root === null || root === '') return null;
  const parts = rel.split(/[\\/]+/).filter((x) => x.length > 0);
  return [trimEnd(root), ...parts].join(sep);
}

function under(root: string | null, path: string): string | undefined {
  if (root === null || root === '') return undefined;
  const r = trimEnd(root).replace(/\\/g, '/').toLowerCase();
  const p = path.replace(/\\/g, '/');
  if (p.toLowerCase() === r) return '';
  return p.toLowerCase().startsWith(`${r}/`) ? p.slice(r.length + 1) : undefined;
}

function resolved(s: Storage, rel: string, name: unknown, base: Record<string, unknown>): Record<string, unknown> {
  const linux = join(s.linux_path, rel, '/');
  const mac = join(s.mac_path, rel, '/');
  const windows = join(s.windows_path, rel, '\\');
  const local = linux ?? mac ?? windows;
  const leaf = rel.split(/[\\/]+/).filter((x) => x.length > 0).at(-1) ?? rel;
  return {
    ...base, content_type: base.content_type ?? null, link_type: 'local', local_path: local, local_path_linux: linux, local_path_mac: mac,
    local_path_windows: windows, local_storage: { type: 'LocalStorage', id: s.id, name: s.code }, name: typeof name === 'string' ? name : leaf,
    relative_path: rel, url: local === null ? null : `file://${local.startsWith('/') ? '' : '/'}${local.replace(/\\/g, '/')}`,
  };
}

/** Normalizes a url field value for storage. */
export function normalizeFileLink(store: SiteStore, v: Record<string, unknown>): Record<string, unknown> {
  const storages = () => store.prepare('SELECT id, code, linux_path, mac_path, windows_path FROM e_LocalStorage WHERE _retired = 0 AND _hidden = 0 ORDER BY id').all() as Storage[];
  if (typeof v.relative_path === 'string' && v.local_storage !== undefined && v.local_storage !== null) {
    const ls = v.local_storage as { id?: unknown };
    const s = storages().find((x) => x.id === ls.id);
    if (s === undefined) throw clientFault('SITE_LINK_NOT_FOUND', 'local_storage names no LocalStorage', { link: ls.id });
    return resolved(s, v.relative_path, v.name, v);
  }
  if (typeof v.local_path === 'string') {
    for (const s of storages()) {
      for (const root of [s.linux_path, s.mac_path, s.windows_path]) {
        const rel = under(root, v.local_path);
        if (rel !== undefined) return resolved(s, rel, v.name, v);
      }
    }
    const leaf = v.local_path.split(/[\\/]+/).filter((x) => x.length > 0).at(-1) ?? v.local_path;
    return { ...v, content_type: v.content_type ?? null, link_type: 'local', name: typeof v.name === 'string' ? v.name : leaf, local_storage: null };
  }
  if (typeof v.url === 'string') return { ...v, content_type: v.content_type ?? null, link_type: v.link_type ?? 'url', name: typeof v.name === 'string' ? v.name : v.url };
  return v;
}

/**
 * The fields a site fills from a local file link: `path_cache_storage` (and
 * `path_cache`, when the client did not send it) of a record whose `path` is written
 * with a link under a LocalStorage. tk-core never writes `path_cache_storage` but
 * `find_publish` filters on it (protocol.md 6.3).
 */
export function derivedPathCache(store: SiteStore, fields: ReadonlyMap<string, unknown>, writes: ReadonlyArray<{ field_name: string; value: unknown }>): Array<{ field_name: string; value: unknown; multi_entity_update_mode?: undefined }> {
  if (!fields.has('path_cache_storage')) return [];
  const path = writes.find((w) => w.field_name === 'path');
  if (path === undefined) return [];
  const given = (name: string) => writes.some((w) => w.field_name === name);
  if (path.value === null || typeof path.value !== 'object' || Array.isArray(path.value)) {
    return given('path_cache_storage') ? [] : [{ field_name: 'path_cache_storage', value: null }];
  }
  const link = normalizeFileLink(store, path.value as Record<string, unknown>);
  const storage = link.local_storage as { type: string; id: number } | null | undefined;
  const out: Array<{ field_name: string; value: unknown }> = [];
  if (!given('path_cache_storage')) out.push({ field_name: 'path_cache_storage', value: storage === null || storage === undefined ? null : { type: 'LocalStorage', id: storage.id } });
  if (!given('path_cache') && fields.has('path_cache') && storage !== null && storage !== undefined && typeof link.relative_path === 'string') {
    out.push({ field_name: 'path_cache', value: link.relative_path.replace(/\\/g, '/') });
  }
  return out;
}
