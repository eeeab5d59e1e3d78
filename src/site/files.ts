/**
 * Uploaded bytes (attachments, thumbnails, filmstrips): a `files` table in the site's
 * SQLite file holds each file's metadata; the bytes live beside the `--db` file in
 * `<db>.files/<attachment id>` (in memory for `:memory:`). Each file has a random
 * token: `image` URLs carry it, so a client fetches them without cookies, as it
 * fetches a real site's signed thumbnail URLs (protocol.md 6.2).
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { SiteStore } from './store.ts';

/** Room an upload form gets beyond its file part (`maxFileBytes`): boundaries, part headers, auth and entity fields. */
export const FORM_OVERHEAD_BYTES = 64 * 1024;

export interface StoredFile {
  attachmentId: number;
  name: string;
  contentType: string;
  size: number;
  token: string;
}

export class FileStore {
  readonly store: SiteStore;
  readonly maxFileBytes: number;
  readonly #dir: string | undefined;
  readonly #memory = new Map<number, Buffer>();

  constructor(store: SiteStore, dbPath: string, maxFileBytes: number) {
    this.store = store;
    this.maxFileBytes = maxFileBytes;
    this.#dir = dbPath === ':memory:' || dbPath === '' ? undefined : `${dbPath}.files`;
    store.db.exec(`CREATE TABLE IF NOT EXISTS files (attachment_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
      content_type TEXT NOT NULL, size INTEGER NOT NULL, token TEXT NOT NULL)`);
  }

  /** Keeps `bytes` as the content of Attachment `attachmentId`. */
  put(attachmentId: number, name: string, contentType: string, bytes: Buffer): StoredFile {
    const token = randomBytes(16).toString('hex');
    if (this.#dir === undefined) this.#memory.set(attachmentId, bytes);
    else {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      writeFileSync(`${this.#dir}/${attachmentId}`, bytes, { mode: 0o600 });
    }
    this.store.prepare('INSERT OR REPLACE INTO files (attachment_id, name, content_type, size, token) VALUES (?, ?, ?, ?, ?)')
      .run(attachmentId, name, contentType, bytes.length, token);
    return { attachmentId, name, contentType, size: bytes.length, token };
  }

  info(attachmentId: number): StoredFile | undefined {
    const r = this.store.prepare('SELECT attachment_id AS attachmentId, name, content_type AS contentType, size, token FROM files WHERE attachment_id = ?')
      .get(attachmentId) as StoredFile | undefined;
    return r;
  }

  bytes(attachmentId: number): Buffer | undefined {
    if (this.#dir === undefined) return this.#memory.get(attachmentId);
    const p = `${this.#dir}/${attachmentId}`;
    return existsSync(p) ? readFileSync(p) : undefined;
  }
}
