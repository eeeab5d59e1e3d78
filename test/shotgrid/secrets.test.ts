// Script keys, passwords and session tokens never reach an error, a log line
// or an inspected client, even when the site echoes them back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Secret } from '../../src/shared/secret.ts';
import { ShotgunClient, type ShotgunAuth } from '../../src/shotgrid/index.ts';
import { startFakeSite, type FakeSite, type RecordedRequest } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

const KEY = 'script-KEY-0f9e8d7c6b5a';
const PASSWORD = 'pa55word-of-bob-XYZ';
const TOKEN = 'session-TOKEN-a1b2c3d4e5';
const SECRETS = [KEY, PASSWORD, TOKEN];

const auths: ShotgunAuth[] = [
  { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret(KEY) },
  { kind: 'user', login: 'bob', password: new Secret(PASSWORD) },
  { kind: 'session', sessionToken: new Secret(TOKEN) },
];

/** Everything a caller could print about an error or a client. */
function surfaces(x: unknown): string[] {
  const out = [inspect(x, { depth: 10, showHidden: true }), JSON.stringify(x) ?? '', String(x)];
  if (x instanceof Error) {
    out.push(x.message, x.stack ?? '');
    let c: unknown = x.cause;
    while (c) {
      out.push(inspect(c, { depth: 10 }), c instanceof Error ? c.message : inspect(c));
      c = c instanceof Error ? c.cause : undefined;
    }
  }
  return out;
}

// Every 10-character slice of every secret: a partial leak counts too.
const SLICES = SECRETS.flatMap((s) => Array.from({ length: s.length - 9 }, (_, i) => s.slice(i, i + 10)));

function assertClean(texts: string[], what: string): void {
  for (const t of texts) {
    for (const s of SLICES) assert.ok(!t.includes(s), `${what} leaks (part of) a secret`);
  }
}

// The site echoes the request's auth params back in what it answers.
function echo(req: RecordedRequest): string {
  return JSON.stringify(req.body.params[0] ?? {});
}

async function withClient(
  site: FakeSite,
  auth: ShotgunAuth,
  fn: (sg: ShotgunClient, logs: string[]) => Promise<void>,
  extra: { timeoutMs?: number } = {},
): Promise<void> {
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const sg = new ShotgunClient({
    baseUrl: site.url,
    auth,
    sessionUuid: 'uuid-1',
    retryDelayMs: 1,
    maxRetries: 1,
    logger: pino({ level: 'trace' }, stream),
    ...extra,
  });
  try {
    await fn(sg, logs);
    assertClean(surfaces(sg), 'the client');
    assertClean(logs, 'the log');
  } finally {
    await sg.close();
  }
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
}

describe('secrets never leak', () => {
  for (const auth of auths) {
    it(`${auth.kind} auth: an auth fault echoing the credentials`, async (t) => {
      const site = await startFakeSite((req) =>
        req.body.method_name === 'info' ? undefined : { json: { exception: true, error_code: 102, message: `bad: ${echo(req)}` } },
      );
      onCleanup(t, () => site.close());
      await withClient(site, auth, async (sg) => {
        const err = await failure(sg.find('Shot', []));
        assert.equal((err as { code?: string }).code, 'SG_AUTHENTICATION_FAULT');
        // The site really did get the secret: the test can fail.
        const sent = echo(site.calls('read')[0]!);
        assert.ok(SECRETS.some((s) => sent.includes(s)));
        assertClean(surfaces(err), 'the fault');
      });
    });

    it(`${auth.kind} auth: HTTP 403 and a redirect echoing the credentials`, async (t) => {
      let n = 0;
      const site = await startFakeSite((req) => {
        if (req.body.method_name === 'info') return undefined;
        return n++ === 0 ? { raw: `blocked ${echo(req)}`, status: 403, contentType: 'text/html' } : { raw: '', status: 302 };
      });
      onCleanup(t, () => site.close());
      await withClient(site, auth, async (sg) => {
        const e1 = await failure(sg.delete('Shot', 1));
        const e2 = await failure(sg.delete('Shot', 1));
        assert.equal((e1 as { status?: number }).status, 403);
        assert.equal((e2 as { status?: number }).status, 302);
        assert.ok(String((e1 as { details: Record<string, unknown> }).details['body']).includes('********'));
        assertClean([...surfaces(e1), ...surfaces(e2)], 'the HTTP error');
      });
    });
  }

  it('an invalid JSON answer echoing the key', async (t) => {
    const site = await startFakeSite((req) =>
      req.body.method_name === 'read' ? { raw: `${KEY} ${echo(req)}`, contentType: 'application/json' } : undefined,
    );
    onCleanup(t, () => site.close());
    await withClient(site, auths[0]!, async (sg) => {
      const err = await failure(sg.find('Shot', []));
      assert.equal((err as { code?: string }).code, 'SG_BAD_RESPONSE');
      assertClean(surfaces(err), 'the bad-response error');
    });
  });

  it('a dropped connection and a timeout', async (t) => {
    const site = await startFakeSite((req) => {
      if (req.body.method_name === 'read') return { destroy: true };
      if (req.body.method_name === 'create') return { hang: true };
      return undefined;
    });
    onCleanup(t, () => site.close());
    await withClient(
      site,
      auths[0]!,
      async (sg, logs) => {
        const dropped = await failure(sg.find('Shot', []));
        const timedOut = await failure(sg.create('Shot', { code: 'x' }));
        assert.equal((dropped as { code?: string }).code, 'SG_CONNECTION');
        assert.equal((timedOut as { code?: string }).code, 'SG_TIMEOUT');
        assertClean([...surfaces(dropped), ...surfaces(timedOut)], 'the transport error');
        assert.ok(logs.length > 0, 'the client logged its calls and retries');
      },
      { timeoutMs: 200 },
    );
  });

  it('a session token issued by the site is masked too', async (t) => {
    const site = await startFakeSite((req) => {
      if (req.body.method_name === 'get_session_token') return { json: { results: { session_id: TOKEN } } };
      if (req.body.method_name === 'read') return { json: { exception: true, error_code: 102, message: `expired ${TOKEN}` } };
      return undefined;
    });
    onCleanup(t, () => site.close());
    await withClient(site, auths[0]!, async (sg) => {
      const token = await sg.getSessionToken();
      assert.equal(token.reveal(), TOKEN);
      assertClean(surfaces(token), 'the token');
      const err = await failure(sg.find('Shot', []));
      assertClean(surfaces(err), 'the fault');
    });
  });
});
