// Stand-in until test/support/nats.ts lands: one nats-server with JetStream on loopback.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { onCleanup, tempDir, waitFor, type Cleanup } from '../support/index.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function startNats(t: Cleanup): Promise<{ urls: string[] }> {
  const dir = tempDir(t, 'sgeventd-nats-');
  const port = await freePort();
  const mon = await freePort();
  const child = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(mon), '-js', '-sd', dir, '-n', 'n1'], { stdio: 'ignore' });
  onCleanup(t, () => {
    child.kill('SIGKILL');
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${mon}/healthz`).catch(() => null))?.status === 200, 'nats-server healthy');
  return { urls: [`nats://127.0.0.1:${port}`] };
}
