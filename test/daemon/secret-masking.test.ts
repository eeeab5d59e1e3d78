import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../../src/config/index.ts';
import { check } from '../../src/daemon/index.ts';
import { makeHarness, waitFor } from '../dispatch/harness.ts';
import { childEnv, spawnDaemon, writeYaml } from '../dispatch/child.ts';
import { runCli } from '../cli/run-cli.ts';

const KEY = 'sgeventd-key';
const TOKEN = 'status-token-9d2c-for-tests';
const SMTP = 'smtp-pw-51be-for-tests';
const SECRETS = [KEY, TOKEN, SMTP];

async function startSmtp(): Promise<{ port: number; mails: string[]; close(): Promise<void> }> {
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true, allowInsecureAuth: true, disabledCommands: ['STARTTLS'], logger: false,
    onAuth(auth, _session, cb) { cb(null, { user: auth.username }); },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => { mails.push(Buffer.concat(chunks).toString('utf8')); cb(); });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { port: (server.server.address() as AddressInfo).port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function assertClean(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} shows ${s}`);
}

describe('configured secrets are masked by value wherever text leaves the daemon', () => {
  it('a key that plugin code puts into an error or a log line is not in the logs, the status page, status, dlq ls, mails or the state file', { timeout: 300_000 }, async () => {
    const smtp = await startSmtp();
    after(() => smtp.close());
    const h = await makeHarness();
    after(() => h.close());
    const leaky = join(h.plugins, 'leaky.mjs');
    await writeFile(leaky, `export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', '${KEY}', (ctx) => {
    const text = 'login with ${KEY} token ${TOKEN} smtp ${SMTP} failed for ' + ctx.event.id;
    ctx.logger.warn(text);
    console.log(text);
    throw new Error(text);
  }, null, null, false);
}
`);
    await chmod(leaky, 0o644);
    const yaml = await writeYaml(h, { stateFlushMs: 50 }, { deadLetter: true }, {
      http: { port: 0, token: TOKEN },
      logging: { dir: join(h.dir, 'logs'), level: 'debug' },
      emails: { enabled: true, host: '127.0.0.1', port: smtp.port, secure: false, starttls: false, username: 'alerts', password: SMTP, from: 'a@example.com', to: ['b@example.com'] },
    });
    const daemon = spawnDaemon(h, yaml);
    after(() => daemon.kill9());
    const url = await waitFor('the status server', async () => {
      const f = join(h.dir, 'sgeventd.pid.url');
      return existsSync(f) ? (await readFile(f, 'utf8')).trim() || undefined : undefined;
    }, 30_000);
    // A plugin with no state starts after the newest event it sees when it starts: create the shot once it runs.
    await waitFor('the leaky plugin running', async () => {
      const res = await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } }).catch(() => null);
      if (res === null || res.status !== 200) return undefined;
      const doc = await res.json() as { plugins?: Array<{ name: string; status: string }> };
      return doc.plugins?.some((p) => p.name === 'leaky' && p.status === 'running') || undefined;
    }, 60_000);
    const project = await h.sg.findOne('Project', [], ['id']);
    assert.ok(project);
    await h.sg.create('Shot', { code: 'leak', project: { type: 'Project', id: project['id'] } });

    // Read the state file until the dead letter is there (a CLI run per poll is slow on a busy machine), then ask the CLI once.
    await waitFor('a dead letter in the state file', () => {
      const file = join(h.dir, 'state.db');
      if (!existsSync(file)) return undefined;
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n > 0 || undefined;
      } catch {
        return undefined; // the schema is not there yet
      } finally {
        db.close();
      }
    }, 120_000);
    const dlq = await runCli(['dlq', 'ls', '-c', yaml, '--json'], childEnv(h));
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.match(dlq.stdout, /failed for/);
    assertClean('dlq ls --json', dlq.stdout);
    assertClean('dlq ls', (await runCli(['dlq', 'ls', '-c', yaml], childEnv(h))).stdout);
    const status = await runCli(['status', '-c', yaml, '--json'], childEnv(h));
    assert.equal(status.code, 0, status.stderr);
    assert.ok(status.stdout.includes('failed for'), status.stdout);
    assertClean('status', status.stdout);
    for (const path of ['/api/status', '/', '/metrics']) {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200, path);
      const body = await res.text();
      if (path === '/api/status') assert.ok(body.includes('failed for'), body);
      assertClean(path, body);
    }
    await waitFor('an alert mail', () => smtp.mails.length > 0 || undefined, 30_000);
    assert.equal(await daemon.stop(), 0);

    for (const m of smtp.mails) assertClean('a mail', m);
    const db = new Database(join(h.dir, 'state.db'), { readonly: true });
    const stored = JSON.stringify([
      db.prepare('SELECT error FROM dead_letters').all(),
      db.prepare('SELECT last_error FROM plugins').all(),
      db.prepare('SELECT last_error FROM counters').all(),
    ]);
    db.close();
    assert.ok(stored.includes('failed for'), stored);
    assertClean('the state file', stored);
    let logText = '';
    for (const f of await readdir(join(h.dir, 'logs'))) logText += await readFile(join(h.dir, 'logs', f), 'utf8');
    assert.ok(logText.includes('failed for'), 'the logs were written');
    assertClean('the logs', logText);
    assertClean('the console', daemon.output());
  });

  it('a password in site.url is not printed by check', async () => {
    const config = parseConfig({
      site: { url: 'http://studio:url-pass-6c1e@127.0.0.1:9/', script: { name: 'sgeventd', key: 'k3y-for-tests' }, timeoutMs: 500, maxConnRetries: 1 },
      http: { enabled: false },
    }, { source: 'test', env: {} });
    const lines = await check(config, { toolkit: false });
    const text = JSON.stringify(lines);
    assert.ok(text.includes('127.0.0.1:9'), text);
    assert.ok(!text.includes('url-pass-6c1e'), text);
  });
});
