import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ConfigError, SgeventdError } from '../../src/shared/index.ts';
import { parseWebhookFlag, startSite } from '../../src/site/index.ts';
import { runCli, waitFor, within, withSite } from '../support/index.ts';
import { startReceiver } from './webhook-receiver.ts';
import { SCRIPT } from './helpers.ts';

const bin = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(10_000),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

const asHeaders = { 'x-script-name': SCRIPT.script_name, 'x-script-key': SCRIPT.script_key };

describe('site webhooks: admin route and CLI', () => {
  it('/admin/webhooks adds, lists (status and counts, never the secret) and removes webhooks; only for a configured script', async (t) => {
    const rx = await startReceiver(t);
    const ts = await withSite(t, { seed: 'demo' });
    const { site, sg } = ts;
    const admin = `${site.url}/admin/webhooks`;
    assert.equal((await call(admin, 'POST', { url: rx.url })).status, 403, 'no credentials');
    assert.equal((await call(admin, 'POST', { ...SCRIPT, script_key: 'wrong', url: rx.url })).status, 403);
    assert.equal((await call(admin, 'GET', undefined, { ...asHeaders, 'x-script-key': 'wrong' })).status, 403);
    const bad = await call(admin, 'POST', { ...SCRIPT, url: 'ftp://example.com/x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json['code'], 'CONFIG_INVALID');
    assert.equal(bad.json['key'], 'webhook.url');
    const badType = await call(admin, 'POST', { ...SCRIPT, url: rx.url, types: ['Shot:explode'] });
    assert.equal(badType.json['key'], 'webhook.types');
    const badShape = await call(admin, 'POST', { ...SCRIPT, url: rx.url, batch: 'yes' });
    assert.equal(badShape.json['key'], 'webhook.batch');
    assert.equal(site.webhooks.list().length, 0, 'nothing added by refused requests');

    const secret = 'admin-secret-4242';
    const added = await call(admin, 'POST', { ...SCRIPT, url: rx.url, secret, types: ['Shot:create'] });
    assert.equal(added.status, 201);
    const id = String(added.json['id']);
    assert.ok(!added.text.includes(secret));
    assert.equal(added.json['signed'], true);
    const project = await ts.firstProject();
    await sg.create('Shot', { code: 'wh801', project });
    const r = await waitFor(() => rx.received[0], 'a delivery to the webhook added at run time');
    assert.equal(r.headers['x-sg-webhook-id'], id);
    assert.equal(r.headers['x-sg-signature'], `sha1=${createHmac('sha1', secret).update(r.raw).digest('hex')}`);
    await waitFor(() => site.webhooks.get(id)?.sent === 1, 'the delivery counted');
    const listed = await call(admin, 'GET', undefined, asHeaders);
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes(secret), 'the listing never shows a secret');
    const hooks = listed.json['webhooks'] as Array<Record<string, unknown>>;
    assert.equal(hooks.length, 1);
    assert.deepEqual({ id: hooks[0]!['id'], status: hooks[0]!['status'], sent: hooks[0]!['sent'], failed: hooks[0]!['failed'], types: hooks[0]!['types'] },
      { id, status: 'active', sent: 1, failed: 0, types: ['Shot:create'] });
    assert.equal((await call(`${admin}/${id}`, 'GET', undefined, asHeaders)).json['id'], id);

    assert.equal((await call(`${admin}/${id}`, 'DELETE', undefined, asHeaders)).status, 200);
    assert.equal((await call(`${admin}/${id}`, 'DELETE', SCRIPT)).status, 404);
    assert.deepEqual((await call(admin, 'GET', undefined, asHeaders)).json['webhooks'], []);
    const last = await sg.create('Shot', { code: 'wh802', project });
    // A second webhook, added after the removal, proves the write was processed; the removed one got nothing.
    const rx2 = await startReceiver(t);
    site.webhooks.add({ url: rx2.url, types: ['Shot:update'] });
    await sg.update('Shot', Number(last['id']), { description: 'x' });
    await waitFor(() => rx2.received.length === 1, 'the delivery to the second webhook');
    assert.equal(rx.received.length, 1, 'a removed webhook receives nothing');
  });

  it('--webhook parses URL, secret, types and batch; bad parts name the flag and what was expected, never the secret', () => {
    const spec = parseWebhookFlag('http://127.0.0.1:9000/webhooks/shotgrid,secret=s3cr3t-value,types=Shot:create|update,Task:update,Asset,batch');
    assert.equal(spec.url, 'http://127.0.0.1:9000/webhooks/shotgrid');
    assert.equal(spec.secret?.reveal(), 's3cr3t-value');
    assert.equal(spec.batch, true);
    assert.deepEqual([...spec.types!].map(([k, v]) => [k, [...v]]), [['Shot', ['create', 'update']], ['Task', ['update']], ['Asset', ['create', 'update', 'delete', 'revive']]]);
    assert.equal(parseWebhookFlag('https://h/x').types, undefined, 'no types: everything');
    for (const bad of ['ftp://h/x', 'not a url', 'http://h/x,types=Shot:explode', 'http://h/x,types=9bad', 'http://h/x,secret=', 'http://h/x,secret=s3cr3t-value,retries=3']) {
      assert.throws(() => parseWebhookFlag(bad), (err: unknown) => {
        assert.ok(err instanceof ConfigError, bad);
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.equal(err.details['key'], '--webhook');
        assert.ok(!err.message.includes('s3cr3t-value') && !JSON.stringify(err.details).includes('s3cr3t-value'), 'the secret never appears in the error');
        return true;
      });
    }
  });

  it('startSite refuses bad webhook options with a coded error naming the option', async () => {
    await assert.rejects(startSite({ webhooks: { faultRate: 2 } }), (err: unknown) => err instanceof SgeventdError && err.code === 'CONFIG_INVALID' && err.details['key'] === 'webhooks.faultRate');
    await assert.rejects(startSite({ webhooks: { hooks: [{ url: 'nope' }] } }), (err: unknown) => err instanceof SgeventdError && err.details['key'] === 'webhook.url');
  });

  it('sgeventd site: bad webhook flags exit non-zero with CONFIG_INVALID naming the flag; a good one delivers', async (t) => {
    for (const [args, flag] of [
      [['--webhook', 'http://h/x,secret=top-secret-1,nonsense'], '--webhook'],
      [['--webhook-fault-rate', '1.5'], '--webhook-fault-rate'],
      [['--webhook-delay-ms', 'soon'], '--webhook-delay-ms'],
    ] as const) {
      const r = await runCli(['site', '--port', '0', ...args], process.env);
      assert.notEqual(r.code, 0);
      assert.equal(r.errorCode, 'CONFIG_INVALID', r.stderr);
      assert.ok(r.stderr.includes(flag), `the error names ${flag}: ${r.stderr}`);
      assert.ok(!r.stderr.includes('top-secret-1'));
    }
    const rx = await startReceiver(t);
    const child = spawn(process.execPath, [bin, 'site', '--port', '0', '--seed', 'demo', '--webhook', `${rx.url},secret=cli-secret-77,types=Shot:create`, '--webhook-delay-ms', '20'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const first = await within(once(createInterface({ input: child.stdout }), 'line').then(([l]) => String(l)), 20_000, `the first line; stderr: ${stderr}`);
    const url = /^site listening on (\S+)$/.exec(first)?.[1];
    assert.ok(url, first);
    const res = await fetch(`${url}/api3/json`, {
      method: 'POST', signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ method_name: 'create', params: [SCRIPT, { type: 'Shot', fields: [{ field_name: 'code', value: 'wh901' }], return_fields: ['id'] }] }),
    });
    assert.equal(res.status, 200);
    await res.json();
    const r = await waitFor(() => rx.received[0], 'the CLI site to deliver');
    assert.equal(r.headers['x-sg-signature'], `sha1=${createHmac('sha1', 'cli-secret-77').update(r.raw).digest('hex')}`);
    assert.equal(r.body.data['event_type'], 'Shotgun_Shot_New');
    assert.ok(!stderr.includes('cli-secret-77'), 'the secret never reaches the log');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await within(exited, 10_000, 'the site to exit');
  });
});
