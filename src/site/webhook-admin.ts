/**
 * `/admin/webhooks`, outside /api3 as a real site's webhooks page is: `POST` adds
 * one (`{url, secret?, types?, batch?}`), `GET` lists them with status and counts,
 * `GET /admin/webhooks/:id` shows one, `DELETE /admin/webhooks/:id` removes one,
 * `POST /admin/webhooks/:id/enable` takes a failed one back into service.
 * Protected as the other admin routes: a configured script's `script_name` and
 * `script_key`, in the JSON body, or (for GET and DELETE, which carry no body)
 * in the `x-script-name` / `x-script-key` headers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SgeventdError } from '../shared/index.ts';
import { parseInput, type SiteWebhooks } from './webhooks.ts';

export interface AdminAnswer {
  status: number;
  body: unknown;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

export async function handleWebhookAdmin(
  webhooks: SiteWebhooks, isScript: (name: unknown, key: unknown) => boolean,
  method: string, path: string, headers: IncomingHttpHeaders, raw: Buffer,
): Promise<AdminAnswer> {
  let body: Record<string, unknown> = {};
  if (raw.length > 0) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return { status: 400, body: { error: 'expected a JSON object', code: 'SITE_WEBHOOK_BAD_REQUEST' } };
    }
  }
  const name = body['script_name'] ?? header(headers, 'x-script-name');
  const key = body['script_key'] ?? header(headers, 'x-script-key');
  if (!isScript(name, key)) return { status: 403, body: { error: 'bad script credentials', code: 'SITE_AUTH_FAILED' } };
  const id = path.startsWith('/admin/webhooks/') ? decodeURIComponent(path.slice('/admin/webhooks/'.length)) : undefined;
  if (id === undefined && method === 'GET') return { status: 200, body: { webhooks: webhooks.list() } };
  if (id === undefined && method === 'POST') {
    const { script_name: _n, script_key: _k, ...input } = body;
    try {
      return { status: 201, body: webhooks.add(parseInput(input)) };
    } catch (err) {
      if (err instanceof SgeventdError) return { status: 400, body: { error: err.message, code: err.code, key: err.details['key'] } };
      throw err;
    }
  }
  if (id !== undefined && id.endsWith('/enable') && method === 'POST') {
    const info = webhooks.enable(id.slice(0, -'/enable'.length));
    return info === undefined ? { status: 404, body: { error: `no webhook ${id.slice(0, -'/enable'.length)}`, code: 'SITE_WEBHOOK_NOT_FOUND' } } : { status: 200, body: info };
  }
  if (id !== undefined && id.length > 0 && method === 'GET') {
    const info = webhooks.get(id);
    return info === undefined ? { status: 404, body: { error: `no webhook ${id}`, code: 'SITE_WEBHOOK_NOT_FOUND' } } : { status: 200, body: info };
  }
  if (id !== undefined && id.length > 0 && method === 'DELETE') {
    return await webhooks.remove(id)
      ? { status: 200, body: { removed: id } }
      : { status: 404, body: { error: `no webhook ${id}`, code: 'SITE_WEBHOOK_NOT_FOUND' } };
  }
  return { status: 405, body: { error: 'GET or POST /admin/webhooks, GET or DELETE /admin/webhooks/:id, POST /admin/webhooks/:id/enable', code: 'SITE_WEBHOOK_BAD_REQUEST' } };
}
