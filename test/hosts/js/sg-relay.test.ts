// A plugin thread's `sg` runs on the main thread (src/hosts/js/sg-relay.ts):
// calls over real HTTP to the local site, faults rebuilt as the client's own
// classes in the thread, concurrent calls of `by: project` callbacks, and a
// callback timeout aborting the HTTP request still in flight.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_SCRIPT } from '../../../src/site/index.ts';
import type { WorkerPluginHost } from '../../../src/hosts/index.ts';
import { onCleanup, tempDir, waitFor, withSite, within } from '../../support/index.ts';
import { captureLogger, fixtureHost, makeEvent } from './helpers.ts';

const ERRORS = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'src', 'shotgrid', 'errors.ts')).href;

function pluginFile(t: TestContext, source: string): string {
  const dir = tempDir(t, 'sgeventd-relay-');
  const file = join(dir, 'relay_plugin.mjs');
  writeFileSync(file, source);
  return file;
}

function host(t: TestContext, file: string, options: Parameters<typeof fixtureHost>[1]): WorkerPluginHost {
  const h = fixtureHost(file, options);
  t.after(() => h.close());
  return h;
}

const FAULTS_PLUGIN = `
import { ShotgunFault, AuthenticationFault } from '${ERRORS}';
const describe = (err) => ({ isFault: err instanceof ShotgunFault, isAuth: err instanceof AuthenticationFault, name: err.name, code: err.code, faultCode: err.faultCode, pluginFrame: String(err.stack).includes('relay_plugin') });
export function registerCallbacks(reg) {
  reg.registerCallback('${DEFAULT_SCRIPT.name}', '${DEFAULT_SCRIPT.key}', async function writer(ctx) {
    const shot = await ctx.sg.findOne('Shot', [['id', 'is', ctx.event.entity.id]], ['code', 'created_at']);
    await ctx.sg.update('Shot', ctx.event.entity.id, { description: 'seen ' + shot.code });
    let fault = null;
    try { await ctx.sg.find('NoSuchEntityType', [], ['id']); } catch (err) { fault = describe(err); }
    ctx.logger.info({ code: shot.code, createdAtIsDate: shot.created_at instanceof Date, fault }, 'writer');
  });
  reg.registerCallback('${DEFAULT_SCRIPT.name}', 'not-the-key', async function stranger(ctx) {
    try { await ctx.sg.find('Shot', [], ['id']); ctx.logger.info({ auth: null }, 'stranger'); }
    catch (err) { ctx.logger.info({ auth: describe(err) }, 'stranger'); }
  });
}
`;

const BY_PROJECT_PLUGIN = `
let inFlight = 0;
let most = 0;
export function registerCallbacks(reg) {
  reg.setConcurrency({ by: 'project', max: 4 });
  reg.registerCallback('${DEFAULT_SCRIPT.name}', '${DEFAULT_SCRIPT.key}', async (ctx) => {
    inFlight++;
    most = Math.max(most, inFlight);
    const shot = await ctx.sg.findOne('Shot', [['id', 'is', ctx.event.entity.id]], ['code']);
    const again = await ctx.sg.find('Shot', [['id', 'is', ctx.event.entity.id]], ['code']);
    inFlight--;
    ctx.logger.info({ eventId: ctx.event.id, shotId: ctx.event.entity.id, code: shot.code, again: again[0].code, most }, 'read');
  });
}
`;

const HANGING_READ_PLUGIN = `
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'a-key', async (ctx) => {
    await ctx.sg.find('Shot', [], ['id']);
  });
}
`;

describe('plugin thread sg through the main thread', () => {
  it('reads and writes on the local site; faults reach the plugin as the client\'s classes, with its codes', async (t) => {
    const site = await withSite(t);
    const project = await site.firstProject();
    const shot = await site.sg.create('Shot', { code: 'relay010', project });
    const { logger, records } = captureLogger();
    const h = host(t, pluginFile(t, FAULTS_PLUGIN), { logger, siteUrl: site.url });
    assert.ok((await within(h.load(), 30_000, 'load')).ok);
    const result = await within(h.process(makeEvent(1, 'Shotgun_Shot_New', null, { entity: { type: 'Shot', id: shot['id'] }, project })), 30_000, 'event');
    assert.equal(result.outcome, 'ok', JSON.stringify(result));
    const writer = records.find((r) => r.msg === 'writer');
    assert.equal(writer?.['code'], 'relay010');
    assert.equal(writer?.['createdAtIsDate'], true, 'dates arrive as Dates');
    assert.deepEqual(writer?.['fault'], { isFault: true, isAuth: false, name: 'ShotgunFault', code: 'SG_FAULT', faultCode: (writer?.['fault'] as { faultCode: number }).faultCode, pluginFrame: true });
    assert.equal(typeof (writer?.['fault'] as { faultCode: unknown }).faultCode, 'number');
    const stranger = records.find((r) => r.msg === 'stranger');
    assert.deepEqual(stranger?.['auth'], { isFault: true, isAuth: true, name: 'AuthenticationFault', code: 'SG_AUTHENTICATION_FAULT', faultCode: 102, pluginFrame: true });
    const updated = await site.sg.findOne('Shot', [['id', 'is', shot['id']]], ['description']);
    assert.equal(updated?.['description'], 'seen relay010');
    // The keys went over the wire, never into a log record.
    assert.ok(!JSON.stringify(records).includes(DEFAULT_SCRIPT.key));
  });

  it('runs the sg calls of concurrent by-project callbacks side by side, each answer to its own caller', async (t) => {
    const site = await withSite(t, { seed: 'demo', latencyMs: 100 });
    const project = await site.firstProject();
    const shots: number[] = [];
    for (let i = 0; i < 8; i++) shots.push((await site.sg.create('Shot', { code: `lane${i}`, project }))['id']);
    const { logger, records } = captureLogger();
    const h = host(t, pluginFile(t, BY_PROJECT_PLUGIN), { logger, siteUrl: site.url });
    assert.ok((await within(h.load(), 30_000, 'load')).ok);
    assert.equal(h.capacity, 4);
    // Four lanes (one project each), two events per lane.
    const lanes = [0, 1, 2, 3].map((lane) => [0, 1].map((k) => {
      const i = lane * 2 + k;
      return makeEvent(100 + i, 'Shotgun_Shot_New', null, { entity: { type: 'Shot', id: shots[i] as number }, project: { type: 'Project', id: 1000 + lane } });
    }));
    const results = await within(Promise.all(lanes.map(async (events) => {
      const out = [];
      for (const e of events) out.push(await h.process(e));
      return out;
    })), 60_000, 'lanes');
    for (const r of results.flat()) assert.equal(r.outcome, 'ok', JSON.stringify(r));
    const reads = records.filter((r) => r.msg === 'read');
    assert.equal(reads.length, 8);
    for (const r of reads) {
      const i = (r['eventId'] as number) - 100;
      assert.equal(r['shotId'], shots[i]);
      assert.equal(r['code'], `lane${i}`);
      assert.equal(r['again'], `lane${i}`);
    }
    assert.ok(reads.some((r) => (r['most'] as number) > 1), 'callbacks waited on sg calls at the same time');
  });

  it('a callback timeout aborts its sg request in flight on the main thread', async (t) => {
    // A site that answers `info` and never answers a read: it records when the client drops the read.
    let readsOpen = 0;
    let readsDropped = 0;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method_name: string };
        if (body.method_name === 'info') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ results: { version: [8, 50, 0] } }));
          return;
        }
        readsOpen++;
        res.on('close', () => {
          if (!res.writableFinished) readsDropped++;
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(t, () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { logger } = captureLogger('warn');
    // site.timeoutMs far above the test's wait: only the callback timeout can end the read.
    const h = host(t, pluginFile(t, HANGING_READ_PLUGIN), { logger, siteUrl: url, siteTimeoutMs: 600_000, callbackTimeoutMs: 1000 });
    assert.ok((await within(h.load(), 30_000, 'load')).ok);
    const result = await within(h.process(makeEvent(1, 'Shotgun_Shot_New')), 30_000, 'event');
    assert.equal(result.outcome === 'ok' ? null : result.error?.code, 'PLUGIN_CALLBACK_TIMEOUT', JSON.stringify(result));
    await waitFor(() => readsDropped === 1, 'the read dropped by the client', 20_000);
    assert.equal(readsOpen, 1);
  });
});
