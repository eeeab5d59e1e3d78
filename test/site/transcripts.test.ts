// Requests recorded from the official Python client (shotgun_api3, unmodified) and the
// answers it accepted (it asserted them while recording); replaying them against a fresh
// site proves the wire format that client really uses, without Python in CI.
//
// test/fixtures/transcripts/<scenario>.json: { recordedWith, description, site: { seed,
// maxEntitiesPerPage? }, exchanges: [{ request, response }] }, one fresh site per file.
// Recorded with shotgun_api3 (a checkout of shotgunsoftware/python-api on PYTHONPATH) talking
// to startSite() through a proxy that logged each POST body and answer; to re-record a scenario,
// run the same client calls against a fresh demo site the same way. Bodies are stored as parsed
// JSON, so key order (which the client does not keep stable) does not matter.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { z } from 'zod';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { withSite } from '../support/index.ts';
import { clearEventLog } from './helpers.ts';

const exchangeSchema = z.object({ request: z.unknown(), response: z.unknown(), path: z.string().optional(), status: z.number().int().optional() });
const transcriptSchema = z.object({
  recordedWith: z.string(),
  description: z.string().optional(),
  site: z.object({ seed: z.enum(['demo', 'empty']), maxEntitiesPerPage: z.number().int().positive().optional() }),
  exchanges: z.array(exchangeSchema).min(1),
});
type Transcript = z.infer<typeof transcriptSchema>;
type Exchange = z.infer<typeof exchangeSchema>;

const dir = new URL('../fixtures/transcripts/', import.meta.url);
const transcripts = new Map<string, Transcript>(
  readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => [f.replace(/\.json$/, ''), transcriptSchema.parse(JSON.parse(readFileSync(new URL(f, dir), 'utf8')))]),
);

function transcript(name: string): Transcript {
  const t = transcripts.get(name);
  assert.ok(t, `missing transcript ${name}`);
  return t;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const RETIREMENT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/;
// Values that depend on the clock: replaced by a marker only when they have the right shape.
const CLOCK_KEYS: Record<string, RegExp> = { created_at: DATE_TIME, updated_at: DATE_TIME, retirement_date: RETIREMENT };

/** Masks what legitimately differs between runs: clock values and issued session tokens. */
function normalize(v: unknown, key?: string): unknown {
  if (typeof v === 'string') {
    const clock = key === undefined ? undefined : CLOCK_KEYS[key];
    if (clock?.test(v) === true) return `<${key ?? ''}>`;
    // The retirement_date side rows carry the date as their old/new value.
    if (RETIREMENT.test(v)) return '<retirement_date>';
    if (key === 'session_id' && /^[0-9a-f]{16,}$/.test(v)) return '<session_id>';
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x, k)]));
  return v;
}

/** Replaces every string that is a key of `map` (recorded session tokens) with its value. */
function substitute(v: unknown, map: ReadonlyMap<string, string>): unknown {
  if (typeof v === 'string') return map.get(v) ?? v;
  if (Array.isArray(v)) return v.map((x) => substitute(x, map));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, map)]));
  return v;
}

function sessionIdOf(body: unknown): string | undefined {
  const r = z.object({ results: z.object({ session_id: z.string() }) }).safeParse(body);
  return r.success ? r.data.results.session_id : undefined;
}

async function post(site: RunningSite, ex: Exchange, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${site.url}${ex.path ?? '/api3/json'}`, {
    method: 'POST', signal: AbortSignal.timeout(10_000), body: JSON.stringify(body),
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Posts every recorded request in order to a fresh site, checks each answer
 * against the recorded one, and returns the exchanges with the live answers.
 */
async function replay(t: Transcript): Promise<Exchange[]> {
  const site = await startSite({ seed: t.site.seed, maxEntitiesPerPage: t.site.maxEntitiesPerPage });
  clearEventLog(site);
  const tokens = new Map<string, string>();
  const answers: Exchange[] = [];
  try {
    for (const [i, ex] of t.exchanges.entries()) {
      const live = await post(site, ex, substitute(ex.request, tokens));
      const label = `exchange ${i}: ${JSON.stringify(ex.request).slice(0, 160)}`;
      assert.equal(live.status, ex.status ?? 200, label);
      assert.deepEqual(normalize(live.body), normalize(ex.response), label);
      const recorded = sessionIdOf(ex.response);
      const issued = sessionIdOf(live.body);
      if (recorded !== undefined && issued !== undefined) tokens.set(recorded, issued);
      answers.push({ ...ex, status: live.status, response: live.body });
    }
  } finally {
    await site.close();
  }
  return answers;
}

const replays = new Map<string, Promise<Exchange[]>>();
/** A transcript's exchanges as a fresh site answered them (replayed once per file, shared by the tests below). */
function answered(name: string): Promise<Exchange[]> {
  let p = replays.get(name);
  if (p === undefined) {
    p = replay(transcript(name));
    replays.set(name, p);
  }
  return p;
}

interface Envelope {
  method_name: string;
  params: unknown[];
}
const envelopeSchema = z.object({ method_name: z.string(), params: z.array(z.unknown()) });
const envelope = (ex: Exchange): Envelope => envelopeSchema.parse(ex.request);
const readParams = z.object({
  type: z.string(),
  paging: z.object({ entities_per_page: z.number(), current_page: z.number() }),
  return_paging_info_without_counts: z.boolean().optional(),
  return_paging_info: z.boolean().optional(),
}).passthrough();
const readAnswer = z.object({ results: z.object({ entities: z.array(z.object({ type: z.string(), id: z.number() }).passthrough()), paging_info: z.object({ has_next_page: z.boolean() }).optional() }) });
const faultAnswer = z.object({ exception: z.literal(true), error_code: z.number().int(), message: z.string() });
const eventSchema = z.object({ type: z.literal('EventLogEntry'), id: z.number() }).passthrough();

describe('shotgun_api3 transcripts replayed against a fresh site', () => {
  it('holds the scenarios recorded from the unmodified client, covering every method it used', () => {
    assert.deepEqual([...transcripts.keys()], ['batch', 'faults', 'find', 'paging', 'schema', 'session', 'summarize', 'values', 'write']);
    const methods = new Set<string>();
    for (const t of transcripts.values()) {
      assert.match(t.recordedWith, /^shotgun_api3 3\.\d+\.\d+, Python 3\.\d+\.\d+$/);
      assert.equal(envelope(t.exchanges[0]!).method_name, 'info', 'the client connects with info first');
      for (const ex of t.exchanges) methods.add(envelope(ex).method_name);
    }
    assert.deepEqual([...methods].sort(), ['batch', 'create', 'delete', 'get_session_token', 'info', 'read', 'revive', 'schema_entity_read',
      'schema_field_read', 'schema_read', 'summarize', 'update']);
  });

  for (const [name, t] of transcripts) {
    it(`${name}: ${t.exchanges.length} exchanges answered as recorded (${t.description ?? ''})`, async () => {
      const answers = await answered(name);
      assert.equal(answers.length, t.exchanges.length);
    });
  }

  it('the comparison sees a changed value but not a changed clock', () => {
    const t = transcript('write');
    const i = t.exchanges.findIndex((ex) => envelope(ex).method_name === 'create');
    const recorded = t.exchanges[i]!.response as { results: Record<string, unknown> };
    const laterClock = { results: { ...recorded.results, created_at: '2099-01-02T03:04:05Z' } };
    assert.deepEqual(normalize(laterClock), normalize(recorded));
    const otherId = { results: { ...recorded.results, id: Number(recorded.results.id) + 1 } };
    assert.notDeepEqual(normalize(otherId), normalize(recorded));
    const notAClock = { results: { ...recorded.results, created_at: 'yesterday' } };
    assert.notDeepEqual(normalize(notAClock), normalize(recorded));
  });
});

// The facts the client relies on, checked on the answers of a running site (the
// requests are the client's own, as recorded).
describe('key facts of the exchanges, as a fresh site answers them', () => {
  it('info: a 7.4+ version (so the client pages with has_next_page) and the page size', async () => {
    for (const [name, t] of transcripts) {
      const info = z.object({ version: z.array(z.number()).min(3), api_max_entities_per_page: z.number() }).parse((await answered(name))[0]!.response);
      assert.ok(info.version[0]! > 7 || (info.version[0] === 7 && info.version[1]! >= 4), `version ${info.version.join('.')}`);
      assert.equal(info.api_max_entities_per_page, t.site.maxEntitiesPerPage ?? 500);
    }
  });

  it('paging: the client loops with return_paging_info_without_counts until has_next_page is false', async () => {
    const reads = (await answered('paging')).filter((ex) => envelope(ex).method_name === 'read')
      .map((ex) => ({ p: readParams.parse(envelope(ex).params[1]), a: readAnswer.parse(ex.response).results }));
    // find("Task", []) over 52 tasks with 10 per page: pages 1..6.
    const loop = reads.slice(0, 6);
    assert.deepEqual(loop.map((r) => r.p.paging.current_page), [1, 2, 3, 4, 5, 6]);
    assert.ok(loop.every((r) => r.p.return_paging_info_without_counts === true && r.p.return_paging_info === undefined));
    assert.deepEqual(loop.map((r) => r.a.paging_info?.has_next_page), [true, true, true, true, true, false]);
    assert.deepEqual(loop.flatMap((r) => r.a.entities.map((e) => e.id)), Array.from({ length: 52 }, (_, k) => k + 1));
    // An explicit page is one call with the flag false.
    const explicit = reads.filter((r) => r.p.return_paging_info_without_counts === false);
    assert.deepEqual(explicit.map((r) => [r.p.paging.current_page, r.a.entities.length]), [[3, 10], [6, 2]]);
    // A last page that is exactly full still says there is no next page.
    const twenty = reads.filter((r) => JSON.stringify(r.p).includes('"less_than"'));
    assert.deepEqual(twenty.map((r) => [r.a.entities.length, r.a.paging_info?.has_next_page]), [[10, true], [10, false]]);
  });

  it('find_one and limit ≤ page size: one call, page 1, entities_per_page = limit, flag false', async () => {
    const limited = (await answered('find')).map((ex) => ({ r: readParams.safeParse(envelope(ex).params[1]), ex })).filter(({ r }) => r.success)
      .map(({ r, ex }) => ({ p: r.data!, a: readAnswer.parse(ex.response).results }))
      .filter(({ p }) => p.return_paging_info_without_counts === false);
    assert.ok(limited.some(({ p }) => p.paging.entities_per_page === 1 && p.paging.current_page === 1), 'find_one');
    assert.ok(limited.some(({ p }) => p.paging.entities_per_page === 5 && p.paging.current_page === 2), 'limit 5, page 2');
    for (const { p, a } of limited) assert.ok(a.entities.length <= p.paging.entities_per_page, `page of ${p.paging.entities_per_page} answered with ${a.entities.length}`);
  });

  it('faults: bad credentials answer 102 with HTTP 200; bad calls answer another fault code', async () => {
    const auth = (await answered('session')).filter((ex) => faultAnswer.safeParse(ex.response).success);
    assert.ok(auth.length >= 4);
    assert.ok(auth.every((ex) => faultAnswer.parse(ex.response).error_code === 102 && (ex.status ?? 200) === 200));
    const wrongKey = auth.find((ex) => (JSON.stringify(envelope(ex).params[0]) ?? '').includes('wrong-key'));
    assert.ok(wrongKey, 'the wrong script key is among them');
    const faults = (await answered('faults')).map((ex) => faultAnswer.safeParse(ex.response)).filter((r) => r.success).map((r) => r.data.error_code);
    assert.equal(faults.length, 10);
    assert.ok(faults.every((c) => c !== 102), `codes ${faults.join(',')}`);
  });

  it('delete and revive answer true, then false when there is nothing to do', async () => {
    const answers = (await answered('write')).filter((ex) => ['delete', 'revive'].includes(envelope(ex).method_name) && !faultAnswer.safeParse(ex.response).success)
      .map((ex) => [envelope(ex).method_name, (ex.response as { results: unknown }).results]);
    assert.deepEqual(answers, [['delete', true], ['delete', false], ['revive', true], ['revive', false]]);
  });

  it('session_uuid set on the connection lands on the event; sudo_as_login acts as the user', async () => {
    const exchanges = await answered('session');
    const uuid = '5a1d49b0-0c69-11e0-a24c-003048d17544';
    const update = exchanges.find((ex) => envelope(ex).method_name === 'update');
    assert.ok(update);
    assert.equal((envelope(update).params[0] as Record<string, unknown>).session_uuid, uuid);
    const events = exchanges.filter((ex) => (JSON.stringify(envelope(ex).params[1]) ?? '').includes('"EventLogEntry"'))
      .flatMap((ex) => readAnswer.parse(ex.response).results.entities.map((e) => eventSchema.parse(e)));
    assert.equal(events.filter((e) => e.session_uuid === uuid).length, 2);
    const sudoNew = events.find((e) => e.event_type === 'Shotgun_Sequence_New');
    assert.ok(sudoNew);
    assert.deepEqual(sudoNew.user, { type: 'HumanUser', id: 2, name: 'Bob Builder' });
    assert.equal((sudoNew.meta as Record<string, { type: string }>).sudo_actual_user?.type, 'ApiUser');
  });

  it('batch is all-or-nothing: after a faulting batch the shots are the same as before', async () => {
    const exchanges = await answered('batch');
    const i = exchanges.findIndex((ex, k) => k > 1 && envelope(ex).method_name === 'batch' && faultAnswer.safeParse(ex.response).success);
    assert.ok(i > 0);
    const before = readAnswer.parse(exchanges[i - 1]!.response).results.entities;
    const after = readAnswer.parse(exchanges[i + 1]!.response).results.entities;
    assert.deepEqual(after, before);
  });
});

// The first recording (3.10.0 against an earlier site build), kept for its extra headers
// and paths; same comparison rules, plus the free-text description of events.
const legacySchema = z.object({
  client: z.string(),
  exchanges: z.array(z.object({ path: z.string(), headers: z.record(z.string(), z.string().optional()), request: z.unknown(), status: z.number(), response: z.unknown() })),
});
const legacy = legacySchema.parse(JSON.parse(readFileSync(new URL('../fixtures/site/transcripts/python-api-3.10.0.json', import.meta.url), 'utf8')));

function normalizeLegacy(v: unknown): unknown {
  if (typeof v === 'string') return DATE_TIME.test(v) ? '<date_time>' : RETIREMENT.test(v) ? '<retirement_date>' : v;
  if (Array.isArray(v)) return v.map(normalizeLegacy);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'description' && typeof x === 'string' ? '<description>' : normalizeLegacy(x)]));
  return v;
}

describe('official Python client transcripts (first recording)', () => {
  it(`replays ${legacy.exchanges.length} exchanges of ${legacy.client} with the same answers`, async (t) => {
    assert.ok(legacy.exchanges.length > 20);
    {
      const { site } = await withSite(t, { seed: 'demo' });
      clearEventLog(site);
      for (const [i, ex] of legacy.exchanges.entries()) {
        const res = await fetch(`${site.url}${ex.path}`, {
          method: 'POST', signal: AbortSignal.timeout(10_000), body: JSON.stringify(ex.request),
          headers: { 'content-type': ex.headers['content-type'] ?? 'application/json', 'user-agent': ex.headers['user-agent'] ?? '' },
        });
        assert.equal(res.status, ex.status, `exchange ${i}`);
        const body: unknown = await res.json();
        assert.deepEqual(normalizeLegacy(body), normalizeLegacy(ex.response), `exchange ${i}: ${JSON.stringify(ex.request).slice(0, 120)}`);
      }
    }
  });
});
