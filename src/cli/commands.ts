// The CLI's surface: every command with its options and help, and nothing
// else. It is loaded on every start, so it imports commander and options.ts
// only; each action imports its command's file when that command runs, so
// `--version`, `status` or `plugin enable` never load the daemon, the hosts
// or the local site (test/cli/startup.test.ts checks the modules loaded).
// The option types come from the command files as types only: erased, free.
import type { Command } from 'commander';
import { configOption, parseEventId } from './options.ts';
import type { CheckCliOptions } from './check.ts';
import type { ClusterStatusCliOptions } from './cluster.ts';
import type { DemoCliOptions } from './demo.ts';
import type { DlqCliOptions } from './dlq.ts';
import type { ForegroundOptions } from './foreground.ts';
import type { MigrateCliOptions } from './migrate.ts';
import type { PluginCliOptions } from './plugin.ts';
import type { ReplayOptions } from './replay.ts';
import type { SiteCliOptions } from './site.ts';
import type { ConfigCliOptions } from './start-stop.ts';
import type { StatusCliOptions } from './status.ts';
import type { ToolkitListOptions } from './toolkit.ts';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function registerSiteCommand(program: Command): void {
  const site = program
    .command('site')
    .description('run a local ShotGrid-compatible site (api3 JSON over HTTP, SQLite storage)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '0')
    .option('--db <file>', 'SQLite file, or :memory:', ':memory:')
    .option('--schema <file>', 'extra entity types and fields (JSON or YAML)')
    .option('--schema-from <file>', 'serve a schema written by `sgeventd site dump-schema` instead of the built-in one')
    .option('--seed <name>', 'demo or empty', 'empty')
    .option('--script <name:key>', 'a script allowed to connect (repeatable)', collect, [] as string[])
    .option('--fault-rate <p>', 'share of requests answered with 503 or a dropped connection', '0')
    .option('--latency-ms <n>', 'delay before every answer', '0')
    .option('--page-size <n>', 'api_max_entities_per_page reported by info and enforced by read', '500')
    .option('--log-level <level>', 'error, warn (refused requests), info, or debug (every request)', 'info')
    .option('--max-file-mb <n>', 'largest upload accepted, in MiB', '100')
    .option('--thumbnail-pending-ms <n>', 'a new thumbnail reads as the transient placeholder this long, as while a real site processes it', '0')
    .option('--webhook <url[,secret=S][,types=Shot:create|update,Task:update][,batch]>',
      'send webhooks to URL as a real site does (repeatable; no types: every entity type and operation)', collect, [] as string[])
    .option('--webhook-delay-ms <n>', 'send each webhook delivery this long after its change commits', '0')
    .option('--webhook-fault-rate <f>', 'share (0..1) of webhook deliveries dropped, duplicated or reordered', '0')
    .option('--webhook-fault-seed <n>', 'seed of the webhook faults, so a run repeats')
    .option('--webhook-batch-window-ms <n>', 'a batched webhook sends at once when its last request is this old (ms, default 2000 as a real site); faster changes gather until then')
    .action(async (o: SiteCliOptions) => (await import('./site.ts')).siteCommand(o));
  site
    .command('dump-schema')
    .description("print a site's schema as JSON for --schema-from (schema_read and schema_entity_read; no records, no credentials)")
    .addOption(configOption())
    .action(async (o: ConfigCliOptions) => (await import('./site.ts')).dumpSchemaCommand(o));
}

function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('seed plugin cursors and backlogs from a shotgunEvents install, so switching daemons neither replays nor skips events')
    .option('--from-shotgunevents <conf>', 'the shotgunEventDaemon.conf whose eventIdFile to read')
    .option('--to-cluster', 'move the state file of -c into the cluster of its `cluster` section (nodes stopped)')
    .option('-c, --config <file>', 'sgeventd config naming the state file (default: sgeventd.db beside the eventIdFile)')
    .option('--state <file>', 'state file to seed (overrides -c)')
    .option('--force', 'replace cursors already in the state file (with --to-cluster: in the cluster)')
    .option('--dry-run', 'print what would be seeded, change nothing')
    .action(async (o: MigrateCliOptions) => (await import('./migrate.ts')).migrateCommand(o));
}

/** `sgeventd dlq ls|retry|drop -c CONFIG [--plugin NAME] [ID...|--all]` */
function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('dead letters: events a plugin gave up on (deadLetter option); works while the daemon runs');
  const common = (c: Command) => c.addOption(configOption('daemon config (sgeventd.yaml or shotgunEventDaemon.conf)')).option('--plugin <name>', 'only this plugin (name or full id)');
  common(dlq.command('ls').description('list dead letters'))
    .option('--status <status>', 'dead or retry')
    .option('--json', 'print JSON instead of a table')
    .action(async (o: DlqCliOptions) => (await import('./dlq.ts')).dlqListCommand(o));
  common(dlq.command('retry').description('mark dead letters for retry (the running daemon takes them)').argument('[ids...]', 'dead-letter ids')).option('--all', 'every dead letter (of --plugin, if given)')
    .action(async (ids: string[], o: DlqCliOptions) => (await import('./dlq.ts')).dlqChangeCommand('retry', ids, o));
  common(dlq.command('drop').description('delete dead letters').argument('[ids...]', 'dead-letter ids')).option('--all', 'every dead letter (of --plugin, if given)')
    .action(async (ids: string[], o: DlqCliOptions) => (await import('./dlq.ts')).dlqChangeCommand('drop', ids, o));
}

function registerDaemonCommands(program: Command): void {
  program
    .command('foreground')
    .description('run the daemon in this terminal (Ctrl-C stops it gracefully)')
    .addOption(configOption())
    .option('--from <id>', 'plugins with no state start after this event id', parseEventId)
    .option('--no-console', 'log to files only (used by `sgeventd start`)')
    .option('--no-progress', 'no catch-up progress bar (there is none when stdout or stderr is not a terminal)')
    .action(async (o: ForegroundOptions) => (await import('./foreground.ts')).runForeground(o));
  program
    .command('start')
    .description('start the daemon in the background')
    .addOption(configOption())
    .action(async (o: ConfigCliOptions) => (await import('./start-stop.ts')).startCommand(o));
  program
    .command('stop')
    .description('stop the daemon gracefully (in-flight callbacks finish, state is committed)')
    .addOption(configOption())
    .action(async (o: ConfigCliOptions) => (await import('./start-stop.ts')).stopCommand(o));
  program
    .command('restart')
    .description('stop, then start the daemon')
    .addOption(configOption())
    .action(async (o: ConfigCliOptions) => (await import('./start-stop.ts')).restartCommand(o));
  program
    .command('status')
    .description('per plugin: cursor, backlog, lag behind the newest event, events in flight, key lanes busy, oldest unfinished event, errors')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .action(async (o: StatusCliOptions) => (await import('./status.ts')).statusCommand(o));
  program
    .command('check')
    .description('validate config, site access and plugin imports without starting the loop')
    .addOption(configOption())
    .option('--no-toolkit', 'skip Toolkit resolution of every active project')
    .action(async (o: CheckCliOptions) => (await import('./check.ts')).checkCommand(o));
  program
    .command('replay')
    .description('send past events to plugins again (a side run: cursors never move, callbacks see replay: true)')
    .addOption(configOption())
    .requiredOption('--from <id>', 'replay events after this id', parseEventId)
    .option('--to <id>', 'up to and including this id (default: the newest)', parseEventId)
    .option('--plugin <name>', 'only this plugin')
    .option('--no-progress', 'no progress bar (there is none when stdout or stderr is not a terminal)')
    .action(async (o: ReplayOptions) => (await import('./replay.ts')).replayCommand(o));
}

function registerPluginCommand(program: Command): void {
  const plugin = program.command('plugin').description('manage plugins');
  plugin
    .command('ls')
    .description('list the plugins the state file knows: state, cursor, last error (works while the daemon runs)')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .action(async (o: PluginCliOptions) => (await import('./plugin.ts')).pluginListCommand(o));
  plugin
    .command('enable <name>')
    .description('bring back a plugin deactivated by an error or paused by `disable`; it resumes at its cursor (a running daemon follows within 2 s)')
    .addOption(configOption())
    .action(async (name: string, o: PluginCliOptions) => (await import('./plugin.ts')).pluginEnableCommand(name, o));
  plugin
    .command('disable <name>')
    .description('pause a plugin until `enable`, across restarts: its thread stops after the event in hand, its cursor stays (a running daemon follows within 2 s)')
    .addOption(configOption())
    .action(async (name: string, o: PluginCliOptions) => (await import('./plugin.ts')).pluginDisableCommand(name, o));
  plugin
    .command('ack-gap <name>')
    .description('accept that the site culled events below a plugin\'s cursor (EVENT_LOG_CULLED): it resumes at the oldest event the site keeps')
    .addOption(configOption())
    .action(async (name: string, o: PluginCliOptions) => (await import('./plugin.ts')).pluginAckGapCommand(name, o));
  plugin
    .command('reload [name]')
    .description('re-import a plugin (default: all) in the running daemon: picks up changed helper modules; a deactivated plugin resumes at its cursor')
    .addOption(configOption())
    .action(async (name: string | undefined, o: PluginCliOptions) => (await import('./plugin.ts')).pluginReloadCommand(name, o));
}

function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a local site, two projects on two Toolkit cores, the example plugins and steady activity')
    .option('--dir <folder>', 'where the demo keeps its site, state and logs (made fresh each run)', './.sgeventd-demo')
    .option('--tk-core <path...>', 'a real tk-core checkout (one or two) instead of the stand-in cores')
    .option('--activity-ms <ms>', 'pause between generated changes', (v) => Number(v), 1500)
    .option('--exit-after <ms>', 'stop by itself after this long', (v) => Number(v))
    .option('--http-port <port>', 'status page port (default: any free one)', (v) => Number(v))
    .option('--no-webhooks', 'poll only (no site → daemon webhooks), to compare the change → callback latency')
    .action(async (o: DemoCliOptions) => (await import('./demo.ts')).demoCommand(o));
}

function registerToolkitCommand(program: Command): void {
  const tk = program.command('toolkit').description('Toolkit project runtimes: resolve, ps, recycle');
  tk.command('resolve')
    .description('print how a project finds its Toolkit configuration and core, step by step')
    .addOption(configOption())
    .argument('<project>', 'project id or tank_name')
    .action(async (project: string, o: ConfigCliOptions) => (await import('./toolkit.ts')).toolkitResolveCommand(project, o));
  tk.command('ps')
    .description('list the running daemon\'s project runtimes (project, core version, pid, rss, calls, age, state)')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .option('--node <id>', 'cluster mode: only this node\'s runtimes (default: every node\'s)')
    .action(async (o: ToolkitListOptions) => (await import('./toolkit.ts')).toolkitPsCommand(o));
  tk.command('recycle')
    .description('drain and replace the running daemon\'s runtimes of one project (id or tank_name), or all')
    .addOption(configOption())
    .argument('[project]', 'project id or tank_name (default: all)')
    .action(async (project: string | undefined, o: ConfigCliOptions) => (await import('./toolkit.ts')).toolkitRecycleCommand(project, o));
}

function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('cluster mode (NATS JetStream): what a node sees of the cluster');
  cluster
    .command('status')
    .description('node id, NATS connection, the nodes that answer, lease holders, per plugin cursor, lag and events in flight')
    .addOption(configOption('sgeventd.yaml of a node on this machine'))
    .option('--json', 'print JSON')
    .action(async (o: ClusterStatusCliOptions) => (await import('./cluster.ts')).clusterStatusCommand(o));
}

/** Registers every subcommand; each one's code is imported when it runs. */
export function registerCommands(program: Command): void {
  registerSiteCommand(program);
  registerMigrateCommand(program);
  registerDlqCommand(program);
  registerDaemonCommands(program);
  registerPluginCommand(program);
  registerDemoCommand(program);
  registerToolkitCommand(program);
  registerClusterCommand(program);
}
