import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { withSite } from './helpers.ts';

// Requests recorded from the official Python client (shotgun_api3, unmodified) and the
// answers it accepted; replaying them proves the wire format that client really uses.
const transcriptSchema = z.object({
  client: z.string(),
  exchanges: z.array(z.object({ path: z.string(), headers: z.record(z.string(), z.string().optional()), request: z.unknown(), status: z.number(), response: z.unknown() })),
});
const file = new URL('../fixtures/site/transcripts/python-api-3.10.0.json', import.meta.url);
const transcript = transcriptSchema.parse(JSON.parse(readFileSync(file, 'utf8')));

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const RETIREMENT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/;

/** Replaces values that depend on the clock with their shape. */
function normalize(v: unknown): unknown {
  if (typeof v === 'string') return DATE_TIME.test(v) ? '<date_time>' : RETIREMENT.test(v) ? '<retirement_date>' : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'description' && typeof x === 'string' ? '<description>' : normalize(x)]));
  return v;
}

describe('official Python client transcripts', () => {
  it(`replays ${transcript.exchanges.length} exchanges of ${transcript.client} with the same answers`, async () => {
    assert.ok(transcript.exchanges.length > 20);
    await withSite({ seed: 'demo' }, async (site) => {
      for (const [i, ex] of transcript.exchanges.entries()) {
        const res = await fetch(`${site.url}${ex.path}`, {
          method: 'POST', signal: AbortSignal.timeout(10_000), body: JSON.stringify(ex.request),
          headers: { 'content-type': ex.headers['content-type'] ?? 'application/json', 'user-agent': ex.headers['user-agent'] ?? '' },
        });
        assert.equal(res.status, ex.status, `exchange ${i}`);
        const body: unknown = await res.json();
        assert.deepEqual(normalize(body), normalize(ex.response), `exchange ${i}: ${JSON.stringify(ex.request).slice(0, 120)}`);
      }
    });
  });
});
