import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/index.ts';
import { serveDaemon } from '../daemon/index.ts';
import { ShotgunClient } from '../shotgrid/index.ts';
import { Secret, SgeventdError } from '../shared/index.ts';
import { startSite } from '../site/index.ts';
import { DemoActivity } from './demo/activity.ts';
import { writeDemoConfig, writeStandInCore } from './demo/configs.ts';
import { ChangeLatency } from './demo/latency.ts';
import { Shutdown } from './shutdown.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/plugins/', import.meta.url));
const MARKER = '.sgeventd-demo';

export interface DemoOptions {
  dir: string;
  /** Real tk-core checkouts (or studio roots holding install/core) for the two projects. */
  tkCore: string[];
  activityMs: number;
  /** Stops by itself after this long (for tests and recordings). */
  exitAfterMs?: number;
  /** Status page port (default: any free one). */
  httpPort?: number;
  /** Site → daemon webhooks (default true); false: polling only, to compare. */
  webhooks?: boolean;
}

/** The entity types and operations the demo's activity changes (the daemon's `webhooks.expect`). */
const DEMO_EXPECT = ['Shot:create|update|delete|revive'];
const LATENCY_EVERY_MS = 10_000;

/** A studio root whose install/core is the given tk-core (a checkout or an installed core). */
function coreRootFor(dir: string, tkCore: string, n: number): string {
  const path = resolve(tkCore);
  if (existsSync(join(path, 'install', 'core', 'python'))) return path;
  if (!existsSync(join(path, 'python', 'tank'))) {
    throw new SgeventdError('DEMO_BAD_TK_CORE', `--tk-core ${path}: expected a tk-core checkout (python/tank) or a studio root (install/core/python)`);
  }
  const root = join(dir, 'cores', `tk-core-${n}`);
  mkdirSync(join(root, 'install'), { recursive: true });
  symlinkSync(path, join(root, 'install', 'core'));
  mkdirSync(join(root, 'config', 'core'), { recursive: true });
  writeFileSync(join(root, 'config', 'core', 'shotgun.yml'), 'host: http://127.0.0.1\n');
  return root;
}

function freshDir(dir: string): void {
  if (existsSync(dir)) {
    if (!existsSync(join(dir, MARKER)) && readdirSync(dir).length > 0) {
      throw new SgeventdError('DEMO_DIR_NOT_EMPTY', `${dir} exists and was not made by sgeventd demo; choose another --dir`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, MARKER), 'made by sgeventd demo; removed and made again by the next run\n');
}

/**
 * The newcomer's path: a local site with demo data, two projects on two
 * different Toolkit cores, the example plugins, and steady activity, all in
 * the foreground until Ctrl-C.
 */
export async function runDemo(opts: DemoOptions, print: (line: string) => void): Promise<void> {
  const dir = resolve(opts.dir);
  freshDir(dir);
  const key = (): string => randomBytes(12).toString('hex');
  const scripts = { daemon: { name: 'sgeventd', key: key() }, plugins: { name: 'demo-plugins', key: key() }, activity: { name: 'demo-activity', key: key() } };
  const shutdown = new Shutdown();
  const webhooks = opts.webhooks ?? true;
  const webhookSecret = key();
  const site = await startSite({ seed: 'demo', db: join(dir, 'site.db'), scripts: Object.values(scripts) });
  shutdown.register(() => site.close());
  const latency = new ChangeLatency();
  site.onEventsVisible((ids) => latency.committed(ids));
  const admin = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'script', scriptName: scripts.daemon.name, scriptKey: new Secret(scripts.daemon.key) } });
  shutdown.register(() => admin.close());

  // Two projects on two different cores; their Primary PipelineConfiguration
  // records point at the configurations, so resolution runs as in production.
  const coreRoots = [0, 1].map((n) => {
    const given = opts.tkCore[n] ?? opts.tkCore[0];
    if (given !== undefined) return coreRootFor(dir, given, n);
    return writeStandInCore(join(dir, 'cores', `stand-in-${n === 0 ? 'a' : 'b'}`), n === 0 ? 'v0.20.17-stand-in' : 'v0.23.6-stand-in');
  });
  const projects = await admin.find('Project', [], ['id', 'name', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
  const projectIds: number[] = [];
  for (const [i, p] of projects.slice(0, 2).entries()) {
    const id = Number(p['id']);
    projectIds.push(id);
    const config = writeDemoConfig(join(dir, 'configs', String(p['tank_name'])), { projectId: id, projectName: String(p['tank_name']), coreRoot: coreRoots[i] ?? '' });
    const pc = await admin.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id }], ['code', 'is', 'Primary']], ['id']);
    if (pc) {
      await admin.update('PipelineConfiguration', Number(pc['id']), {
        linux_path: config, mac_path: config, windows_path: null, plugin_ids: null, descriptor: null,
      });
    }
  }

  const plugins = join(dir, 'plugins');
  mkdirSync(plugins, { mode: 0o755 });
  chmodSync(plugins, 0o755);
  for (const f of readdirSync(EXAMPLES)) {
    if (!/\.(ts|mts|js|mjs|py)$/.test(f)) continue;
    copyFileSync(join(EXAMPLES, f), join(plugins, f));
    chmodSync(join(plugins, f), 0o644);
  }
  // shotgunEvents-style plugins read their script name and key from the environment.
  process.env['SGEVENTD_DEMO_SCRIPT'] = scripts.plugins.name;
  process.env['SGEVENTD_DEMO_KEY'] = scripts.plugins.key;

  const config = parseConfig(
    {
      site: { url: site.url, script: { name: scripts.daemon.name, key: scripts.daemon.key } },
      daemon: { state: join(dir, 'state', 'sgeventd.db'), pidFile: join(dir, 'state', 'sgeventd.pid'), fetchIntervalMs: 500 },
      plugins: [{ path: plugins }],
      logging: { dir: join(dir, 'logs'), level: 'info', timing: true },
      toolkit: { ...(process.env['SGEVENTD_PYTHON'] ? { python: process.env['SGEVENTD_PYTHON'] } : {}), maxRuntimes: 4 },
      http: { port: opts.httpPort ?? 0 },
      // The daemon's own listener; the site's webhook (added below) wakes its poller, the log stays the truth.
      ...(webhooks ? { webhooks: { host: '127.0.0.1', port: 0, path: '/webhooks/shotgrid', secrets: [webhookSecret], expect: DEMO_EXPECT } } : {}),
    },
    { source: join(dir, 'sgeventd.yaml') },
  );
  writeFileSync(join(dir, 'README.txt'), `sgeventd demo\nsite: ${site.url}\nconfig (generated in memory): see the printed summary\n`);

  print('sgeventd demo');
  print(`  site        ${site.url}  (local ShotGrid-compatible site, demo data)`);
  print(`  projects    ${projects.slice(0, 2).map((p, i) => `${String(p['name'])} → core ${coreRoots[i] ?? ''}`).join('\n              ')}`);
  print(`  plugins     ${plugins}`);
  print(`  logs        ${join(dir, 'logs')}  (engine log, one file per plugin, timing log)`);
  print(`  state       ${join(dir, 'state', 'sgeventd.db')}`);
  print('  Ctrl-C stops everything.');
  print('');

  const { daemon, statusUrl, webhookUrl } = await serveDaemon(
    { config, console: true, fromId: 0, recordUrl: false, onTiming: (r) => latency.callback(r.eventId, r.startedAt) }, shutdown);
  if (webhookUrl !== null) {
    site.webhooks.add({ url: webhookUrl, secret: webhookSecret });
    print(`  webhooks    site → ${webhookUrl}  (signed; polling every ${config.webhooks?.fallbackPollMs ?? 0} ms stays the safety net)`);
  } else {
    print(`  polling     every ${config.daemon.fetchIntervalMs} ms (webhooks off)`);
  }
  if (statusUrl !== null) print(`  status page ${statusUrl}/  (also /api/status, /metrics, /healthz)`);
  print('');
  const label = `  latency     change → callback (${webhookUrl !== null ? 'webhooks' : 'polling'})`;
  const every = setInterval(() => {
    const line = latency.takeWindow(label);
    if (line !== null) print(line);
  }, LATENCY_EVERY_MS);
  shutdown.register(async () => {
    clearInterval(every);
    const line = latency.summary(`${label}, whole run`);
    if (line !== null) print(line);
    await Promise.resolve();
  });

  const actor = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'script', scriptName: scripts.activity.name, scriptKey: new Secret(scripts.activity.key) } });
  const activity = new DemoActivity(actor.withOptions({ sudoAsLogin: 'alice' }), projectIds, (err) => daemon.logger.warn({ err }, 'demo activity step failed'));
  shutdown.register(async () => {
    await activity.stop();
    await actor.close();
  });
  activity.start(opts.activityMs);
  shutdown.arm();
  if (opts.exitAfterMs !== undefined) setTimeout(() => void shutdown.run(), opts.exitAfterMs).unref();
  await shutdown.finished;
}

export interface DemoCliOptions {
  dir: string;
  tkCore?: string[];
  activityMs: number;
  exitAfter?: number;
  httpPort?: number;
  /** commander's `--no-webhooks`. */
  webhooks: boolean;
}

/** `sgeventd demo`. */
export async function demoCommand(o: DemoCliOptions): Promise<void> {
  await runDemo(
    {
      dir: o.dir, tkCore: o.tkCore ?? [], activityMs: o.activityMs, webhooks: o.webhooks,
      ...(o.exitAfter !== undefined ? { exitAfterMs: o.exitAfter } : {}),
      ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}),
    },
    (line) => process.stdout.write(`${line}\n`),
  );
}
