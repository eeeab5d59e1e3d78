// Alert mail once per cluster: two nodes (each its own NATS connection and
// its own mailer) raise the same alert at once on a 3-server NATS cluster;
// the real SMTP server on loopback receives it once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { ClusterAlertGate, clusterNames, connectCluster } from '../../src/cluster/index.ts';
import type { EmailConfig } from '../../src/config/index.ts';
import { AlertMailer, type Alert } from '../../src/logging/index.ts';
import { onCleanup } from '../support/index.ts';
import { natsSkip, startNats } from '../support/nats.ts';

interface Smtp {
  port: number;
  subjects: string[];
}

async function startSmtp(t: Parameters<typeof onCleanup>[0]): Promise<Smtp> {
  const subjects: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        subjects.push(/^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '');
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  onCleanup(t, () => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.server.address() as AddressInfo).port, subjects };
}

function emails(port: number): EmailConfig {
  return {
    enabled: true, host: '127.0.0.1', port, secure: false, starttls: false, to: ['ops@studio.test'],
    subjectPrefix: '[sgeventd]', minLevel: 'error', maxPerHour: 20,
  };
}

const SITE_DOWN: Alert = { level: 'error', plugin: null, title: 'site unreachable', body: '3 requests failed in a row' };
const PLUGIN_FAILED: Alert = { level: 'error', plugin: 'shots', title: 'callback onShot failed on event 7', body: 'boom' };

describe('cluster alert mail', natsSkip(), () => {
  it('the same alert raised on two nodes at once is mailed once; another alert once more', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    const smtp = await startSmtp(t);
    const names = clusterNames('t', 'http://127.0.0.1:8090');
    const logger = pino({ level: 'silent' });
    const mailers = await Promise.all(['n1', 'n2'].map(async (nodeId) => {
      const conn = await connectCluster({ nats: { servers: nats.urls }, nodeId });
      onCleanup(t, () => conn.close());
      const gate = await ClusterAlertGate.open({ conn, names, windowMs: 600_000, replicas: 3, nodeId, logger });
      const mailer = new AlertMailer(emails(smtp.port), logger);
      mailer.gateWith((alert) => gate.claim(alert));
      return mailer;
    }));
    for (const m of mailers) m.send(SITE_DOWN);
    for (const m of mailers) m.send(PLUGIN_FAILED);
    for (const m of mailers) m.send(SITE_DOWN);
    // close() waits for every claim and every mail it queued: what the server got is final.
    await Promise.all(mailers.map((m) => m.close()));
    assert.deepEqual(smtp.subjects.toSorted(), [
      '[sgeventd] ERROR: shots: callback onShot failed on event 7',
      '[sgeventd] ERROR: site unreachable',
    ]);
  });

  it('without the gate each node mails its own (the check above can tell)', async (t) => {
    const smtp = await startSmtp(t);
    const logger = pino({ level: 'silent' });
    const mailers = [new AlertMailer(emails(smtp.port), logger), new AlertMailer(emails(smtp.port), logger)];
    for (const m of mailers) m.send(SITE_DOWN);
    await Promise.all(mailers.map((m) => m.close()));
    assert.equal(smtp.subjects.length, 2);
  });
});
