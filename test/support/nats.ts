// Private nats-server processes for cluster tests: one server, or a 3-server
// cluster with routes on loopback. Each server has its own client, route and
// monitor ports, its own store directory and a fixed name (its Raft identity),
// so a restart comes back as the same peer. Never a shared system service.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { onCleanup, type Cleanup } from './cleanup.ts';
import { tempDir } from './temp.ts';
import { waitFor } from './wait.ts';

/** Where the binary is (Debian's nats-server 2.9.10); `SGEVENTD_NATS_SERVER` overrides. */
export const NATS_SERVER = process.env['SGEVENTD_NATS_SERVER'] ?? '/usr/sbin/nats-server';

/** Whether the cluster tests can run here: `{ skip }` for node:test when the binary is missing. */
export function natsSkip(): { skip?: string } {
  return existsSync(NATS_SERVER) ? {} : { skip: `nats-server not found at ${NATS_SERVER} (set SGEVENTD_NATS_SERVER)` };
}

export interface NatsServerSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly routePort?: number;
  readonly storeDir: string;
  /** `nats://127.0.0.1:<clientPort>` */
  readonly url: string;
}

export interface TestNats {
  /** Client URLs of every server, in server order. */
  readonly urls: string[];
  readonly servers: readonly NatsServerSpec[];
  /** Sends `signal` (SIGKILL by default) to server `i` and waits until it has exited. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts server `i` again with the same name, ports and store directory; waits for its /healthz. */
  restart(i: number): Promise<void>;
  /** SIGSTOPs server `i`: its clients' connections stay open and go unanswered (thawed again when the test ends). */
  freeze(i: number): void;
  /** SIGCONTs a frozen server `i`. */
  thaw(i: number): void;
  /** Whether server `i` is running. */
  running(i: number): boolean;
  /** The server (index) that leads the stream `stream`, from the monitor of any running server; undefined when none is known. */
  streamLeader(stream: string): Promise<number | undefined>;
  /** Stops every server (SIGTERM, then SIGKILL); also runs when the test ends. */
  close(): Promise<void>;
}

/**
 * Starts `servers` nats-server processes with JetStream and waits until every
 * one answers `/healthz` with 200 (and, for a cluster, knows its meta leader).
 * Everything is stopped and removed when the test ends.
 */
export async function startNats(t: Cleanup, opts: { servers: 1 | 3; noAdvertise?: boolean } = { servers: 1 }): Promise<TestNats> {
  const dir = tempDir(t, 'sgeventd-nats-');
  const n = opts.servers;
  const ports = await freePorts(n * 3);
  const clusterName = `sge-test-${process.pid}`;
  const specs: NatsServerSpec[] = [];
  for (let i = 0; i < n; i++) {
    const clientPort = ports[i * 3] as number;
    const storeDir = join(dir, `n${i + 1}`);
    mkdirSync(storeDir, { recursive: true });
    specs.push({
      name: `n${i + 1}`,
      clientPort,
      monitorPort: ports[i * 3 + 1] as number,
      ...(n > 1 ? { routePort: ports[i * 3 + 2] } : {}),
      storeDir,
      url: `nats://127.0.0.1:${clientPort}`,
    });
  }
  const procs: Array<ChildProcess | undefined> = new Array<ChildProcess | undefined>(n).fill(undefined);
  const exited: Array<Promise<void> | undefined> = new Array<Promise<void> | undefined>(n).fill(undefined);

  const argsFor = (s: NatsServerSpec): string[] => {
    const args = ['-a', '127.0.0.1', '-p', String(s.clientPort), '-m', String(s.monitorPort), '-js', '-sd', s.storeDir, '-n', s.name];
    if (s.routePort !== undefined) {
      const routes = specs.filter((o) => o !== s).map((o) => `nats://127.0.0.1:${o.routePort}`).join(',');
      args.push('--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${s.routePort}`, '--routes', routes);
      // Clients then know only the servers they were given (no connect_urls): killing a client's only server cuts it off.
      if (opts.noAdvertise === true) args.push('--no_advertise=true');
    }
    return args;
  };
  const launch = (i: number): void => {
    const s = specs[i] as NatsServerSpec;
    const child = spawn(NATS_SERVER, argsFor(s), { stdio: ['ignore', 'ignore', process.env['SGEVENTD_TEST_NATS_LOG'] ? 'inherit' : 'ignore'] });
    procs[i] = child;
    exited[i] = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => { if (procs[i] === child) procs[i] = undefined; });
  };
  const healthy = async (i: number): Promise<boolean> => {
    const s = specs[i] as NatsServerSpec;
    try {
      const res = await fetch(`http://127.0.0.1:${s.monitorPort}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status !== 200) return false;
      if (n === 1) return true;
      const jsz = await monitor(s, '/jsz');
      const meta = (jsz as { meta_cluster?: { leader?: string } } | undefined)?.meta_cluster;
      return typeof meta?.leader === 'string' && meta.leader.length > 0;
    } catch {
      return false;
    }
  };

  let closed = false;
  const frozen = new Set<number>();
  const thaw = (i: number): void => {
    if (frozen.delete(i)) procs[i]?.kill('SIGCONT');
  };
  const close = async (): Promise<void> => {
    closed = true;
    for (const i of [...frozen]) thaw(i);
    await Promise.all(procs.map(async (p, i) => {
      if (p === undefined) return;
      p.kill('SIGTERM');
      const done = exited[i] as Promise<void>;
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(timer);
    }));
  };
  onCleanup(t, close);

  for (let i = 0; i < n; i++) launch(i);
  await waitFor(async () => (await Promise.all(specs.map((_s, i) => healthy(i)))).every(Boolean), `${n} nats-server(s) healthy`, 30_000);

  return {
    urls: specs.map((s) => s.url),
    servers: specs,
    async kill(i, signal = 'SIGKILL') {
      const p = procs[i];
      if (p === undefined) return;
      p.kill(signal);
      await exited[i];
    },
    async restart(i) {
      if (closed) throw new Error('nats servers already closed');
      if (procs[i] !== undefined) throw new Error(`nats server ${i} is still running`);
      launch(i);
      await waitFor(() => healthy(i), `nats-server ${specs[i]?.name} healthy again`, 30_000);
    },
    freeze(i) {
      const p = procs[i];
      if (p === undefined) return;
      frozen.add(i);
      p.kill('SIGSTOP');
    },
    thaw,
    running: (i) => procs[i] !== undefined,
    async streamLeader(stream) {
      for (let i = 0; i < n; i++) {
        if (procs[i] === undefined) continue;
        const jsz = await monitor(specs[i] as NatsServerSpec, '/jsz?streams=true').catch(() => undefined);
        const leader = findStreamLeader(jsz, stream);
        if (leader !== undefined) {
          const idx = specs.findIndex((s) => s.name === leader);
          if (idx >= 0) return idx;
        }
      }
      return undefined;
    },
    close,
  };
}

async function monitor(s: NatsServerSpec, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${s.monitorPort}${path}`, { signal: AbortSignal.timeout(2000) });
  return res.json();
}

// /jsz?streams=true lists, per account, the streams this server holds, each with its cluster's leader.
function findStreamLeader(jsz: unknown, stream: string): string | undefined {
  const details = (jsz as { account_details?: Array<{ stream_detail?: Array<{ name?: string; cluster?: { leader?: string } }> }> } | undefined)?.account_details;
  for (const account of details ?? []) {
    for (const sd of account.stream_detail ?? []) {
      if (sd.name === stream && typeof sd.cluster?.leader === 'string' && sd.cluster.leader.length > 0) return sd.cluster.leader;
    }
  }
  return undefined;
}

/** `count` distinct free loopback ports, held open together so none repeats, then released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
