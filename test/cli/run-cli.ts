// Kept for the tests that still import it from here; the harness lives in test/support.
export { runCli, type CliResult } from '../support/cli.ts';
