import type { Command } from 'commander';
import { registerSiteCommand } from './site.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerDlqCommand } from './dlq.ts';

/**
 * Every subcommand registers itself here, one file per command, so main.ts
 * stays small and the import graph stays one-way (cli → subsystems).
 */
export function registerCommands(program: Command): void {
  registerSiteCommand(program);
  registerMigrateCommand(program);
  registerDlqCommand(program);
}
