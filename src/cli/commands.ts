import type { Command } from 'commander';
import { registerSiteCommand } from './site.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerDlqCommand } from './dlq.ts';
import { registerForegroundCommand } from './foreground.ts';
import { registerStartStopCommands } from './start-stop.ts';
import { registerStatusCommand } from './status.ts';
import { registerCheckCommand } from './check.ts';
import { registerReplayCommand } from './replay.ts';
import { registerPluginCommand } from './plugin.ts';
import { registerDemoCommand } from './demo.ts';
import { registerToolkitCommand } from './toolkit.ts';
import { registerClusterCommand } from './cluster.ts';

/**
 * Every subcommand registers itself here, one file per command, so main.ts
 * stays small and the import graph stays one-way (cli → subsystems).
 */
export function registerCommands(program: Command): void {
  registerSiteCommand(program);
  registerMigrateCommand(program);
  registerDlqCommand(program);
  registerForegroundCommand(program);
  registerStartStopCommands(program);
  registerStatusCommand(program);
  registerCheckCommand(program);
  registerReplayCommand(program);
  registerPluginCommand(program);
  registerDemoCommand(program);
  registerToolkitCommand(program);
  registerClusterCommand(program);
}
