import path from 'node:path';

/** The loop that runs one unchanged shotgunEvents plugin in its own process. */
export const PLUGIN_RUNNER_SCRIPT = path.join(import.meta.dirname, 'python', 'plugin_runner.py');
