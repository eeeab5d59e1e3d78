// Uploads and downloads as shotgun_api3 3.10 sends them to a site without S3
// (Shotgun._upload_to_sg, share_thumbnail, download_attachment; FormPostHandler.encode).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { SCRIPT, create, find, lastEventId, results, type Entity } from './helpers.ts';
import { waitFor } from '../support/index.ts';

type Part = [name: string, value: string] | [name: string, file: { filename: string; type: string; bytes: Buffer }];

/** The multipart body FormPostHandler.encode writes: text parts first, then files with their own Content-Length. */
function pythonForm(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = randomUUID();
  const chunks: Buffer[] = [];
  for (const [k, v] of parts) if (typeof v === 'string') chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const [k, v] of parts) {
    if (typeof v === 'string') continue;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"; filename="${v.filename}"\r\nContent-Type: ${v.type}\r\nContent-Length: ${v.bytes.length}\r\n\r\n`), v.bytes, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

async function postForm(site: RunningSite, route: string, parts: Part[]): Promise<{ status: number; text: string }> {
  const { body, contentType } = pythonForm(parts);
  const res = await fetch(`${site.url}${route}`, { method: 'POST', body, headers: { 'content-type': contentType }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** The Attachment id of a `1:<id>` answer, as the client parses it. */
function attachmentId(text: string): number {
  assert.ok(text.startsWith('1'), `success answer, got ${text}`);
  return Number(text.split(':', 3)[1]!.split('\n', 1)[0]);
}

const AUTH: Part[] = [['script_name', SCRIPT.script_name], ['script_key', SCRIPT.script_key]];
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);

describe('uploads and downloads', () => {
  let dir: string;
  let site: RunningSite;
  let project: Entity;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sgeventd-files-'));
    site = await startSite({ seed: 'demo', db: path.join(dir, 'site.db'), maxFileBytes: 1024 });
    [project] = await find(site, 'Project', [['tank_name', 'is', 'demo_alpha']], ['name']) as [Entity];
  });
  after(async () => {
    await site.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publish_thumbnail: an Attachment, an image URL that downloads without cookies, logged transient then final', async () => {
    const v = await create(site, 'Version', { code: 'thumb', project });
    const start = await lastEventId(site);
    const r = await postForm(site, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['thumb_image', { filename: 'no_preview.jpg', type: 'image/jpeg', bytes: JPEG }]]);
    assert.equal(r.status, 200);
    const id = attachmentId(r.text);
    const [att] = await find(site, 'Attachment', [['id', 'is', id]], ['attachment_links', 'file_size', 'filename']);
    assert.deepEqual([att!.file_size, att!.filename, att!.attachment_links], [JPEG.length, 'no_preview.jpg', [{ type: 'Version', id: v.id, name: 'thumb' }]]);
    assert.ok(existsSync(path.join(dir, 'site.db.files', String(id))), 'bytes beside the --db file');
    const [read] = await find(site, 'Version', [['id', 'is', v.id]], ['image']);
    const img = await fetch(read!.image as string);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual(Buffer.from(await img.arrayBuffer()), JPEG);
    const evs = await find(site, 'EventLogEntry', [['id', 'greater_than', start], ['attribute_name', 'is', 'image']], ['meta', 'entity']);
    assert.deepEqual(evs.map((e) => (e.meta as Record<string, unknown>).is_transient), [true, false]);
    assert.equal((evs[1]!.meta as Record<string, unknown>).new_value, read!.image);
    // A wrong token in an image URL serves nothing.
    assert.equal((await fetch(`${site.url}/thumbnail/${id}/00`)).status, 404);
  });

  it('with thumbnailPendingMs, a new thumbnail reads as the transient placeholder (which serves a PNG) until the final row, as while a real site processes it', async (t) => {
    const slow = await startSite({ seed: 'demo', thumbnailPendingMs: 400 });
    t.after(() => slow.close());
    const [p] = await find(slow, 'Project', [['tank_name', 'is', 'demo_alpha']], ['name']) as [Entity];
    const v = await create(slow, 'Version', { code: 'pending', project: p });
    const start = await lastEventId(slow);
    const r = await postForm(slow, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['thumb_image', { filename: 'no_preview.jpg', type: 'image/jpeg', bytes: JPEG }]]);
    attachmentId(r.text);
    const [early] = await find(slow, 'Version', [['id', 'is', v.id]], ['image']);
    assert.match(early!.image as string, /\/images\/status\/transient\//);
    const placeholder = await fetch(early!.image as string);
    assert.equal(placeholder.status, 200);
    assert.equal(placeholder.headers.get('content-type'), 'image/png');
    const transientOnly = await find(slow, 'EventLogEntry', [['id', 'greater_than', start], ['attribute_name', 'is', 'image']], ['meta']);
    assert.deepEqual(transientOnly.map((e) => (e.meta as Record<string, unknown>).is_transient), [true]);
    const final = await waitFor(async () => {
      const [row] = await find(slow, 'Version', [['id', 'is', v.id]], ['image']);
      return typeof row?.image === 'string' && row.image.includes('/thumbnail/') ? row.image : undefined;
    }, 'the thumbnail to be processed');
    const evs = await find(slow, 'EventLogEntry', [['id', 'greater_than', start], ['attribute_name', 'is', 'image']], ['meta']);
    assert.deepEqual(evs.map((e) => (e.meta as Record<string, unknown>).is_transient), [true, false]);
    assert.equal((evs[1]!.meta as Record<string, unknown>).new_value, final);
    assert.equal((await fetch(final)).status, 200);
  });

  it('upload_file into a field: an upload url dict with the Attachment id; download_attachment round-trips the bytes', async () => {
    const v = await create(site, 'Version', { code: 'movie', project });
    const bytes = Buffer.from('not really a movie');
    const r = await postForm(site, '/upload/upload_file', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['field_name', 'sg_uploaded_movie'], ['display_name', 'take 1'], ['tag_list', 'a,b'], ['file', { filename: 'take1.mov', type: 'video/quicktime', bytes }]]);
    const id = attachmentId(r.text);
    const [read] = await find(site, 'Version', [['id', 'is', v.id]], ['sg_uploaded_movie']);
    const link = read!.sg_uploaded_movie as Record<string, unknown>;
    assert.deepEqual([link.link_type, link.id, link.type, link.name, link.content_type], ['upload', id, 'Attachment', 'take 1', 'video/quicktime']);
    const [att] = await find(site, 'Attachment', [['id', 'is', id]], ['tag_list']);
    assert.deepEqual(att!.tag_list, ['a', 'b']);
    // download_attachment GETs /file_serve/attachment/<id>, with a session cookie when the cookie jar matches.
    const plain = await fetch(`${site.url}/file_serve/attachment/${id}`);
    assert.deepEqual(Buffer.from(await plain.arrayBuffer()), bytes);
    const sid = (await results<{ session_id: string }>(site, 'get_session_token')).session_id;
    const withCookie = await fetch(link.url as string, { headers: { cookie: `_session_id=${sid}` } });
    assert.deepEqual(Buffer.from(await withCookie.arrayBuffer()), bytes);
    assert.equal((await fetch(link.url as string, { headers: { cookie: '_session_id=forged' } })).status, 403);
    assert.equal((await fetch(`${site.url}/file_serve/attachment/999999`)).status, 404);
    // Attached only (no field_name): linked to the entity, no field written.
    const only = attachmentId((await postForm(site, '/upload/upload_file', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['display_name', 'notes.txt'], ['file', { filename: 'notes.txt', type: 'text/plain', bytes: Buffer.from('x') }]])).text);
    assert.deepEqual((await find(site, 'Attachment', [['attachment_links', 'is', { type: 'Version', id: v.id }]], ['id'])).map((a) => a.id).includes(only), true);
  });

  it('share_thumbnail (url-encoded, no file) points other entities at the source thumbnail', async () => {
    const [a, b, c] = [await create(site, 'Version', { code: 'sa', project }), await create(site, 'Version', { code: 'sb', project }), await create(site, 'Version', { code: 'sc', project })];
    const share = (source: Entity) => fetch(`${site.url}/upload/share_thumbnail`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ entities: `Version_${b.id},Version_${c.id}`, source_entity: `Version_${source.id}`, filmstrip_thumbnail: 'False', ...SCRIPT }).toString(),
    }).then((r) => r.text());
    assert.ok((await share(a)).startsWith('2'), 'no thumbnail yet: not ready');
    const id = attachmentId((await postForm(site, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(a.id)], ...AUTH,
      ['thumb_image', { filename: 't.jpg', type: 'image/jpeg', bytes: JPEG }]])).text);
    assert.equal(attachmentId(await share(a)), id);
    const images = (await find(site, 'Version', [['id', 'in', [a.id, b.id, c.id]]], ['image'])).map((v) => v.image);
    assert.equal(new Set(images).size, 1);
  });

  it('refuses with a text answer the client shows: too large, bad credentials, missing file part', async () => {
    const v = await create(site, 'Version', { code: 'big', project });
    const big = await postForm(site, '/upload/upload_file', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['file', { filename: 'big.bin', type: 'application/octet-stream', bytes: Buffer.alloc(4096) }]]);
    assert.equal(big.status, 200);
    assert.match(big.text, /^0:103: SITE_FILE_TOO_LARGE:/);
    const auth = await postForm(site, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(v.id)], ['script_name', 'sgeventd'], ['script_key', 'wrong'],
      ['thumb_image', { filename: 't.jpg', type: 'image/jpeg', bytes: JPEG }]]);
    assert.match(auth.text, /^0:102: SITE_AUTH_FAILED:/);
    const missing = await postForm(site, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH]);
    assert.match(missing.text, /^0:103: SITE_INVALID_FORM:/);
    assert.equal((await fetch(`${site.url}/upload/nope`, { method: 'POST', body: '' })).status, 200, 'auth is checked before the route');
  });

  it('a filmstrip (publish_thumbnail filmstrip=True) sets filmstrip_image where the schema has it, and only the Attachment elsewhere', async () => {
    const v = await create(site, 'Version', { code: 'strip', project });
    const shot = await create(site, 'Shot', { code: 'strip_010', project });
    const upload = (type: string, id: number) => postForm(site, '/upload/publish_thumbnail', [['entity_type', type], ['entity_id', String(id)], ...AUTH,
      ['filmstrip', 'True'], ['thumb_image', { filename: 'strip.jpg', type: 'image/jpeg', bytes: JPEG }]]);
    const onVersion = await upload('Version', v.id);
    attachmentId(onVersion.text);
    const [read] = await find(site, 'Version', [['id', 'is', v.id]], ['image', 'filmstrip_image']);
    assert.equal(typeof read?.filmstrip_image, 'string', 'Version.filmstrip_image set');
    assert.equal(read?.image, null, 'the thumbnail is untouched');
    assert.deepEqual(Buffer.from(await (await fetch(read?.filmstrip_image as string)).arrayBuffer()), JPEG);
    const onShot = await upload('Shot', shot.id);
    attachmentId(onShot.text);
    const [s] = await find(site, 'Shot', [['id', 'is', shot.id]], ['image']);
    assert.equal(s?.image, null, 'a Shot has no filmstrip_image here: nothing is set');
  });

  it('the size limit counts the file part, not the multipart body around it', async () => {
    const v = await create(site, 'Version', { code: 'at-limit', project });
    const post = (bytes: Buffer) => postForm(site, '/upload/upload_file', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['display_name', 'at the limit'], ['file', { filename: 'limit.bin', type: 'application/octet-stream', bytes }]]);
    // maxFileBytes is 1024: a file of exactly 1024 bytes fits, though the form carrying it is larger.
    const fits = await post(Buffer.alloc(1024, 7));
    assert.match(fits.text, /^1:\d+/, fits.text);
    const [att] = await find(site, 'Attachment', [['id', 'is', attachmentId(fits.text)]], ['file_size']);
    assert.equal(att?.file_size, 1024);
    const over = await post(Buffer.alloc(1025, 7));
    assert.match(over.text, /^0:103: SITE_FILE_TOO_LARGE:/, 'one byte over: refused');
  });

  it('keeps files across a restart of a --db FILE site', async () => {
    const v = await create(site, 'Version', { code: 'keep', project });
    const id = attachmentId((await postForm(site, '/upload/publish_thumbnail', [['entity_type', 'Version'], ['entity_id', String(v.id)], ...AUTH,
      ['thumb_image', { filename: 'k.jpg', type: 'image/jpeg', bytes: JPEG }]])).text);
    const [before] = await find(site, 'Version', [['id', 'is', v.id]], ['image']);
    await site.close();
    site = await startSite({ db: path.join(dir, 'site.db'), maxFileBytes: 1024 });
    const url = new URL(before!.image as string);
    const img = await fetch(`${site.url}${url.pathname}`);
    assert.deepEqual(Buffer.from(await img.arrayBuffer()), JPEG);
    assert.deepEqual(readFileSync(path.join(dir, 'site.db.files', String(id))), JPEG);
  });
});
