import { InvalidArgumentError, Option } from 'commander';

/** Parses an event id option: a non-negative integer. */
export function parseEventId(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an event id (a non-negative integer), got ${JSON.stringify(value)}`);
  return n;
}

/** Where the config path comes from when `-c` is absent (shotgunEvents #95). */
export const CONFIG_ENV = 'SGEVENTD_CONFIG';

/**
 * The `-c, --config <file>` option every daemon command takes: required, but
 * satisfied by $SGEVENTD_CONFIG when absent from the command line.
 */
export function configOption(description = 'sgeventd.yaml or shotgunEventDaemon.conf'): Option {
  return new Option('-c, --config <file>', `${description} (default: $${CONFIG_ENV})`).env(CONFIG_ENV).makeOptionMandatory();
}
