/**
 * The upload and download routes of a site without S3 (protocol.md 6.2), as the
 * official `shotgun_api3` uses them:
 * - `POST /upload/publish_thumbnail` (file part `thumb_image`, `filmstrip=True` for a
 *   filmstrip) and `POST /upload/upload_file` (file part `file`, `display_name`,
 *   optional `field_name`, `tag_list`): multipart forms with `entity_type`, `entity_id`
 *   and the api3 auth keys; each creates an Attachment and answers plain text `1:<id>`;
 * - `POST /upload/share_thumbnail` (`entities=Type_id,...`, `source_entity=Type_id`);
 * - `GET /upload/get_thumbnail_url?entity_type=&entity_id=` (`1\n<path>`);
 * - `GET /file_serve/attachment/<id>` (`download_attachment`; a `_session_id` cookie,
 *   when sent, must be a valid session);
 * - `GET /thumbnail/<id>/<token>`: the `image` URLs, fetched without cookies.
 * The client reports any HTTP error as "Max attempts limit reached.", so a refused
 * upload is answered with HTTP 200 and text `0:<code>: <message>`, which it shows.
 */
import type { IncomingMessage } from 'node:http';
import { extname } from 'node:path';
import type { Api3 } from './methods.ts';
import { FORM_OVERHEAD_BYTES, type FileStore } from './files.ts';
import type { Actor } from './writer.ts';
import { SiteFault, clientFault } from './faults.ts';
import { quoteIdent } from './schema.ts';
import type { LinkRef } from './values.ts';

export interface FileAnswer {
  status: number;
  contentType: string;
  body: Buffer | string;
  /** The refusal, for the request log. */
  fault?: SiteFault;
  /** What the request touched, for the request log. */
  entityType?: string;
}

interface Form {
  fields: Map<string, string>;
  files: Map<string, { name: string; type: string; bytes: Buffer }>;
}

const THUMB_FIELDS: Record<string, string> = { false: 'image', true: 'filmstrip_image' };
const AUTH_KEYS = ['script_name', 'script_key', 'user_login', 'user_password', 'session_token', 'session_uuid', 'sudo_as_login'];

function text(status: number, body: string, extra: Partial<FileAnswer> = {}): FileAnswer {
  return { status, contentType: 'text/plain; charset=utf-8', body, ...extra };
}

async function parseForm(contentType: string | undefined, raw: Buffer): Promise<Form> {
  const ct = contentType ?? 'application/x-www-form-urlencoded';
  let data: FormData;
  try {
    data = await new Response(raw, { headers: { 'content-type': ct } }).formData();
  } catch (err) {
    throw clientFault('SITE_INVALID_FORM', 'the upload body is not a valid form', { contentType: ct, cause: String(err) });
  }
  const form: Form = { fields: new Map(), files: new Map() };
  for (const [k, v] of data.entries()) {
    if (typeof v === 'string') form.fields.set(k, v);
    else form.files.set(k, { name: v.name, type: v.type === '' ? 'application/octet-stream' : v.type, bytes: Buffer.from(await v.arrayBuffer()) });
  }
  return form;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** `Type_12` → a link. */
function entityRef(s: string | undefined, what: string): LinkRef {
  const m = /^([A-Za-z][A-Za-z0-9_]*)_(\d+)$/.exec(s ?? '');
  if (m === null) throw clientFault('SITE_INVALID_FORM', `${what} must be Type_id`, { field: what });
  return { type: m[1]!, id: Number(m[2]) };
}

/**
 * Where an image field points while the site processes a new thumbnail (a
 * real site serves a placeholder from here until its thumbnail is ready).
 */
export const TRANSIENT_THUMBNAIL_PATH = '/images/status/transient/thumbnail_pending.png';
// A 1x1 grey PNG: what the placeholder URL serves.
const TRANSIENT_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==', 'base64');

export class UploadRoutes {
  readonly api: Api3;
  readonly files: FileStore;
  /** How long a new thumbnail reads as the transient placeholder before its URL (0: at once). */
  readonly #pendingMs: number;
  readonly #pending = new Set<NodeJS.Timeout>();

  constructor(api: Api3, files: FileStore, thumbnailPendingMs = 0) {
    this.api = api;
    this.files = files;
    this.#pendingMs = thumbnailPendingMs;
  }

  /** Drops thumbnails still pending (the site is closing). */
  close(): void {
    for (const t of this.#pending) clearTimeout(t);
    this.#pending.clear();
  }

  /** Answers a file route, or undefined when `path` is not one. `raw` is undefined past the size limit. */
  async handle(req: IncomingMessage, path: string, query: URLSearchParams, raw: Buffer | undefined): Promise<FileAnswer | undefined> {
    try {
      if (req.method === 'GET') return this.#get(req, path, query);
      if (req.method !== 'POST' || !path.startsWith('/upload/')) return undefined;
      const limit = this.files.maxFileBytes;
      if (raw === undefined) {
        throw clientFault('SITE_FILE_TOO_LARGE', `the upload form is larger than the site's file limit of ${limit} bytes plus ${FORM_OVERHEAD_BYTES} bytes of form fields`, { limit });
      }
      const form = await parseForm(req.headers['content-type'], raw);
      // The limit counts the file itself, not the multipart envelope around it.
      for (const [name, f] of form.files) {
        if (f.bytes.length > limit) {
          throw clientFault('SITE_FILE_TOO_LARGE', `${name}: the file (${f.bytes.length} bytes) is larger than the site's limit of ${limit} bytes`, { limit, size: f.bytes.length, part: name });
        }
      }
      const auth: Record<string, string> = {};
      for (const k of AUTH_KEYS) { const v = form.fields.get(k); if (v !== undefined) auth[k] = v; }
      const actor = this.api.auth.authenticate(auth);
      const base = `http://${req.headers.host ?? 'localhost'}`;
      switch (path) {
        case '/upload/publish_thumbnail': return this.#thumbnail(actor, form, base);
        case '/upload/upload_file': return this.#file(actor, form, base);
        case '/upload/share_thumbnail': return this.#share(actor, form);
        default: return text(404, 'unknown upload route');
      }
    } catch (err) {
      if (err instanceof SiteFault) return text(200, `0:${err.errorCode}: ${err.code}: ${err.message}`, { fault: err });
      throw err;
    }
  }

  #get(req: IncomingMessage, path: string, query: URLSearchParams): FileAnswer | undefined {
    if (path === TRANSIENT_THUMBNAIL_PATH) return { status: 200, contentType: 'image/png', body: TRANSIENT_PNG };
    const serve = /^\/file_serve\/attachment\/(\d+)$/.exec(path);
    if (serve !== null) {
      // The client's cookie names the site as host:port, which cookie jars never match
      // for a URL with a port, so a local site gets no cookie: a cookie sent must be valid.
      const sid = cookie(req, '_session_id');
      if (sid !== undefined) {
        try {
          this.api.auth.authenticate({ session_token: sid });
        } catch (err) {
          if (err instanceof SiteFault) return text(403, 'the _session_id cookie is not a valid session', { fault: err });
          throw err;
        }
      }
      return this.#bytes(Number(serve[1]), undefined);
    }
    const thumb = /^\/thumbnail\/(\d+)\/([0-9a-f]+)$/.exec(path);
    if (thumb !== null) return this.#bytes(Number(thumb[1]), thumb[2]);
    if (path === '/upload/get_thumbnail_url') {
      const ent = this.api.store.schema.entity(query.get('entity_type') ?? '');
      const row = this.api.store.activeRow(ent, Number(query.get('entity_id')));
      const url = ent.fields.has('image') ? row.image : null;
      if (typeof url !== 'string') return text(200, '0\nno thumbnail');
      return text(200, `1\n${new URL(url).pathname}`);
    }
    return undefined;
  }

  #bytes(id: number, token: string | undefined): FileAnswer {
    const info = this.files.info(id);
    const bytes = info === undefined ? undefined : this.files.bytes(id);
    if (info === undefined || bytes === undefined || (token !== undefined && token !== info.token)) {
      return text(404, 'no such file', { fault: clientFault('SITE_FILE_NOT_FOUND', 'no such file', { id }), entityType: 'Attachment' });
    }
    return { status: 200, contentType: info.contentType, body: bytes, entityType: 'Attachment' };
  }

  #attach(actor: Actor, target: LinkRef, file: { name: string; type: string; bytes: Buffer }, base: string,
    displayName: string, tags: string[], kind: string | null): { id: number; url: string; token: string } {
    const { writer, store } = this.api;
    const ent = store.schema.entity(target.type);
    const row = store.activeRow(ent, target.id);
    return writer.transaction(() => {
      const project = ent.name === 'Project' ? { type: 'Project', id: row.id } : typeof row.project__id === 'number' ? { type: 'Project', id: row.project__id } : null;
      const fields = [
        { field_name: 'filename', value: file.name }, { field_name: 'file_size', value: file.bytes.length },
        { field_name: 'file_extension', value: extname(file.name).replace(/^\./, '') }, { field_name: 'attachment_links', value: [target] },
        ...(project === null ? [] : [{ field_name: 'project', value: project }]),
        ...(tags.length === 0 ? [] : [{ field_name: 'tag_list', value: tags }]),
        ...(kind === null ? [] : [{ field_name: 'sg_type', value: kind }]),
      ];
      const { id } = writer.create(actor, 'Attachment', fields);
      const stored = this.files.put(id, file.name, file.type, file.bytes);
      const url = `${base}/file_serve/attachment/${id}`;
      writer.update(actor, 'Attachment', id, [{ field_name: 'this_file', value: { url, name: displayName, content_type: file.type, link_type: 'upload', type: 'Attachment', id } }]);
      return { id, url, token: stored.token };
    });
  }

  #thumbnail(actor: Actor, form: Form, base: string): FileAnswer {
    const target = { type: form.fields.get('entity_type') ?? '', id: Number(form.fields.get('entity_id')) };
    const file = form.files.get('thumb_image');
    if (file === undefined || file.bytes.length === 0) throw clientFault('SITE_INVALID_FORM', 'thumb_image: a non-empty file part is required', { field: 'thumb_image' });
    const filmstrip = /^(true|1)$/i.test(form.fields.get('filmstrip') ?? '');
    const a = this.#attach(actor, target, file, base, file.name, [], filmstrip ? 'Filmstrip' : 'Thumbnail');
    this.#setImage(actor, target, THUMB_FIELDS[String(filmstrip)]!, `${base}/thumbnail/${a.id}/${a.token}`);
    return text(200, `1:${a.id}\n`, { entityType: target.type });
  }

  #file(actor: Actor, form: Form, base: string): FileAnswer {
    const target = { type: form.fields.get('entity_type') ?? '', id: Number(form.fields.get('entity_id')) };
    const file = form.files.get('file');
    if (file === undefined) throw clientFault('SITE_INVALID_FORM', 'file: a file part is required', { field: 'file' });
    const fieldName = form.fields.get('field_name');
    const displayName = form.fields.get('display_name') ?? file.name;
    const tags = (form.fields.get('tag_list') ?? '').split(',').map((t) => t.trim()).filter((t) => t.length > 0);
    const { writer, store } = this.api;
    return writer.transaction(() => {
      if (fieldName !== undefined) {
        const f = store.schema.field(store.schema.entity(target.type), fieldName);
        if (f.dataType !== 'url') throw clientFault('SITE_INVALID_FORM', `${target.type}.${fieldName} is not a File/Link field`, { field: fieldName });
      }
      const a = this.#attach(actor, target, file, base, displayName, tags, null);
      if (fieldName !== undefined) {
        writer.update(actor, target.type, target.id, [{ field_name: fieldName, value: { url: a.url, name: displayName, content_type: file.type, link_type: 'upload', type: 'Attachment', id: a.id } }]);
      }
      return text(200, `1:${a.id}\n`, { entityType: target.type });
    });
  }

  #share(actor: Actor, form: Form): FileAnswer {
    const source = entityRef(form.fields.get('source_entity'), 'source_entity');
    const targets = (form.fields.get('entities') ?? '').split(',').filter((s) => s.length > 0).map((s) => entityRef(s, 'entities'));
    const filmstrip = /^(true|1)$/i.test(form.fields.get('filmstrip_thumbnail') ?? '');
    const field = THUMB_FIELDS[String(filmstrip)]!;
    const { store } = this.api;
    const srcEnt = store.schema.entity(source.type);
    const row = store.activeRow(srcEnt, source.id);
    const url = srcEnt.fields.has(field) ? row[field] : null;
    const m = typeof url === 'string' ? /\/thumbnail\/(\d+)\//.exec(url) : null;
    if (typeof url !== 'string' || m === null) return text(200, `2:${source.type} ${source.id} has no thumbnail yet`);
    return this.api.writer.transaction(() => {
      for (const t of targets) this.#setImage(actor, t, field, url);
      return text(200, `1:${m[1]!}\n`, { entityType: source.type });
    });
  }

  /**
   * Sets an image field and logs it as a site does: a transient row, then
   * the final one (EVT). With a pending period, the field reads as the
   * transient placeholder until the final row is written, as on a real site
   * while it processes the thumbnail.
   */
  #setImage(actor: Actor, target: LinkRef, fieldName: string, url: string): void {
    const { store, writer } = this.api;
    const ent = store.schema.entity(target.type);
    const f = ent.fields.get(fieldName);
    if (f === undefined) return;
    const write = (value: string, transient: boolean, old: unknown): void => {
      const row = store.activeRow(ent, target.id);
      store.prepare(`UPDATE ${quoteIdent(ent.table)} SET ${quoteIdent(fieldName)} = ? WHERE id = ?`).run(value, row.id);
      if (!writer.eventsEnabled) return;
      const ev = writer.events;
      const meta = transient ? { old_value: old, new_value: null, is_transient: true } : { old_value: old, new_value: url, is_transient: false };
      ev.change(actor, ent, target, ev.projectOf(ent, row), f, meta, false, ev.name(target));
    };
    const placeholder = `${new URL(url).origin}${TRANSIENT_THUMBNAIL_PATH}`;
    const old = writer.transaction(() => {
      const before = store.activeRow(ent, target.id)[fieldName] ?? null;
      write(this.#pendingMs > 0 ? placeholder : url, true, before);
      if (this.#pendingMs === 0) write(url, false, before);
      return before;
    });
    if (this.#pendingMs === 0) return;
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      try {
        writer.transaction(() => {
          // Another upload or an update since: that value stands.
          if (store.activeRow(ent, target.id)[fieldName] === placeholder) write(url, false, old);
        });
      } catch {
        // The record was retired meanwhile: nothing to finish.
      }
    }, this.#pendingMs);
    timer.unref();
    this.#pending.add(timer);
  }
}
