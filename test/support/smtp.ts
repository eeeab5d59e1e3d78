import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { onCleanup, type Cleanup } from './cleanup.ts';

/** One mail the server accepted: envelope sender and recipients, and the raw message. */
export interface Mail { from: string; to: string[]; raw: string }

export interface TestSmtp {
  port: number;
  mails: Mail[];
  /** User names that logged in (only with `auth`). */
  logins: string[];
  close(): Promise<void>;
}

/**
 * A real SMTP server (smtp-server) on loopback, no TLS. With `auth`, only
 * that user and password may send. Closed when the test ends.
 */
export async function withSmtp(t: Cleanup, auth?: { username: string; password: string }): Promise<TestSmtp> {
  const mails: Mail[] = [];
  const logins: string[] = [];
  const server = new SMTPServer({
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    disabledCommands: auth === undefined ? ['STARTTLS', 'AUTH'] : ['STARTTLS'],
    logger: false,
    onAuth(a, _session, cb) {
      if (auth !== undefined && a.username === auth.username && a.password === auth.password) {
        logins.push(a.username);
        cb(null, { user: a.username });
      } else cb(new Error('bad credentials'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => (closed ??= new Promise<void>((r) => server.close(() => r())));
  onCleanup(t, close);
  return { port, mails, logins, close };
}

/** A mail's Subject header, unfolded. */
export function subjectOf(raw: string): string {
  return /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
}
