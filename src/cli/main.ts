import { Command, CommanderError } from 'commander';
import { SgeventdError, describeError } from '../shared/index.ts';
import { registerCommands } from './commands.ts';

/** Builds the `sgeventd` program; each subcommand lives in its own file. */
export function buildProgram(): Command {
  const program = new Command('sgeventd')
    .description('Event daemon for ShotGrid: plugins per event, a warm Toolkit runtime per project')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerCommands(program);
  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    // A command may set an exit code itself (a failed check, say).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof SgeventdError) {
      process.stderr.write(`sgeventd: ${err.message} [${err.code}]\n`);
      return 1;
    }
    process.stderr.write(`sgeventd: ${describeError(err)}\n`);
    return 1;
  }
}
