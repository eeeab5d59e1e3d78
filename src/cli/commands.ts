import type { Command } from 'commander';
import { registerSiteCommand } from './site.ts';

/**
 * Every subcommand registers itself here, one file per command, so main.ts
 * stays small and the import graph stays one-way (cli → subsystems).
 */
export function registerCommands(program: Command): void {
  registerSiteCommand(program);
}
