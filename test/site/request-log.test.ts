// The site's request log and connection lifetime.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { request, Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SITE_KEEP_ALIVE_MS, type RequestRecord, type SiteLogger } from '../../src/site/index.ts';
import { SCRIPT, rpc } from './helpers.ts';
import { withSite } from '../support/index.ts';
import { waitFor } from '../support/wait.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

interface Line { level: string; msg: string; rec: RequestRecord }

function collector(): { lines: Line[]; logger: SiteLogger } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, msg: msg ?? '', rec: obj as RequestRecord }); };
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('request log', () => {
  it('logs each request at debug and each refusal at warn with its code, secrets masked', async (t) => {
    const { lines, logger } = collector();
    {
      const { site } = await withSite(t, { seed: 'demo', logger });
      await rpc(site, 'read', { type: 'Shot', return_fields: ['code'] });
      const read = lines.find((l) => l.rec.method === 'read');
      assert.equal(read?.level, 'debug');
      assert.deepEqual([read.rec.entityType, read.rec.status, read.rec.route, typeof read.rec.durationMs], ['Shot', 200, 'POST /api3/json', 'number']);
      await rpc(site, 'read', { type: 'NoSuchType', return_fields: ['id'] });
      const refused = lines.find((l) => l.rec.entityType === 'NoSuchType');
      assert.equal(refused?.level, 'warn');
      assert.equal(refused.rec.fault?.errorCode, 103);
      assert.equal(refused.rec.fault?.code, 'SITE_UNKNOWN_ENTITY_TYPE');
      // A client that puts its key where a method name goes: the key never reaches the log.
      await rpc(site, SCRIPT.script_key, {});
      const unknown = lines.find((l) => l.rec.fault?.code === 'SITE_UNKNOWN_METHOD');
      assert.ok(unknown);
      assert.ok(!JSON.stringify(lines).includes(SCRIPT.script_key));
      await rpc(site, 'read', { type: 'Shot' }, { script_name: 'sgeventd', script_key: 'wrong-key' });
      assert.equal(lines.at(-1)!.rec.fault?.errorCode, 102);
      const upload = await fetch(`${site.url}/upload/upload_file`, { method: 'POST', body: 'entity_type=Shot', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.match(await upload.text(), /^0:102:/);
      assert.equal(lines.at(-1)!.rec.route, 'POST /upload/upload_file');
      assert.equal(lines.at(-1)!.level, 'warn');
    }
  });

  it('logs an injected 503 at warn', async (t) => {
    const { lines, logger } = collector();
    const values = [0, 0];
    {
      const { site } = await withSite(t, { faultRate: 0.5, random: () => values.shift() ?? 0.99, logger });
      const res = await fetch(`${site.url}/api3/json`, { method: 'POST', body: JSON.stringify({ method_name: 'info', params: [] }) });
      assert.equal(res.status, 503);
      assert.deepEqual([lines.at(-1)!.level, lines.at(-1)!.rec.injected], ['warn', '503']);
    }
  });

  it(`keeps idle connections open ${SITE_KEEP_ALIVE_MS / 1000} s, well above Node's 5 s`, async (t) => {
    assert.ok(SITE_KEEP_ALIVE_MS >= 60_000);
    {
      const { site } = await withSite(t, {});
      const agent = new Agent({ keepAlive: true });
      try {
        const header = await new Promise<string | undefined>((resolve, reject) => {
          const req = request(`${site.url}/api3/json`, { method: 'POST', agent }, (res) => { res.resume(); resolve(res.headers['keep-alive'] as string | undefined); });
          req.on('error', reject);
          req.end(JSON.stringify({ method_name: 'info', params: [] }));
        });
        assert.equal(header, `timeout=${SITE_KEEP_ALIVE_MS / 1000}`);
      } finally {
        agent.destroy();
      }
    }
  });

  it('sgeventd site --log-level debug writes one JSON line per request on stderr', async (t) => {
    const child = spawn(process.execPath, [bin, 'site', '--port', '0', '--log-level', 'debug', '--script', 'ci:ci-secret-key'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [first] = await once(createInterface({ input: child.stdout }), 'line') as [string];
    const url = /^site listening on (\S+)$/.exec(first)![1]!;
    await fetch(`${url}/api3/json`, { method: 'POST', body: JSON.stringify({ method_name: 'read', params: [{ script_name: 'ci', script_key: 'ci-secret-key' }, { type: 'Project' }] }) });
    await fetch(`${url}/api3/json`, { method: 'POST', body: JSON.stringify({ method_name: 'ci-secret-key', params: [{ script_name: 'ci', script_key: 'ci-secret-key' }] }) });
    await waitFor(() => stderr.split('\n').filter((l) => l.startsWith('{')).length >= 2, 'two request lines', 10_000);
    const recs = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual([recs[0]!.level, recs[0]!.method, recs[0]!.entityType], ['debug', 'read', 'Project']);
    assert.equal(recs[1]!.level, 'warn');
    assert.ok(!stderr.includes('ci-secret-key'));
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  it('refuses an unknown --log-level', async () => {
    const child = spawn(process.execPath, [bin, 'site', '--log-level', 'loud'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const [code] = await once(child, 'exit') as [number | null];
    assert.notEqual(code, 0);
  });
});
