import { loadConfig } from '../config/index.ts';
import { check, type CheckLine } from '../daemon/index.ts';
import { SgeventdError } from '../shared/index.ts';

export type { CheckLine };

/** Validates the config, the site connection, Toolkit resolution and every plugin's import, without starting the loop. */
export async function runCheck(configPath: string, opts: { toolkit: boolean } = { toolkit: true }): Promise<CheckLine[]> {
  const config = await loadConfig(configPath);
  return [
    { ok: true, what: 'config', detail: `${config.source} (${config.format})` },
    ...config.warnings.map((w) => ({ ok: true, what: 'config warning', detail: w })),
    ...(await check(config, opts)),
  ];
}

export interface CheckCliOptions {
  config: string;
  /** commander's `--no-toolkit`. */
  toolkit: boolean;
}

/** `sgeventd check`: one line per check; CHECK_FAILED when any failed. */
export async function checkCommand(opts: CheckCliOptions): Promise<void> {
  const lines = await runCheck(opts.config, { toolkit: opts.toolkit });
  for (const l of lines) process.stdout.write(`${l.ok ? 'ok  ' : 'FAIL'} ${l.what}: ${l.detail}\n`);
  // Thrown, not process.exitCode: main() returns the exit code and would overwrite it.
  const failed = lines.filter((l) => !l.ok).length;
  if (failed > 0) throw new SgeventdError('CHECK_FAILED', `${failed} check(s) failed`, { details: { failed } });
}
