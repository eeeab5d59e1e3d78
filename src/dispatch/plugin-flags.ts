// The flags the CLI writes into the state file, followed by the engine:
// `plugin disable` pauses a plugin (its thread stops, its cursor stays),
// `plugin enable` brings back a paused plugin or one deactivated by an error.
import type { Logger } from 'pino';
import type { PluginFileEntry } from '../plugins/index.ts';
import type { StateStore } from '../state/index.ts';
import type { PluginRecord } from './plugin-record.ts';

/** The engine's lifecycle steps a flag asks for. */
export interface FlagSteps {
  /** Runs `step` in the plugin's queue, after its loads and reloads. */
  enqueue(rec: PluginRecord, step: () => Promise<void>): Promise<void>;
  unload(rec: PluginRecord): Promise<void>;
  load(rec: PluginRecord, entry: PluginFileEntry): Promise<void>;
  reload(rec: PluginRecord, entry: PluginFileEntry, why: string): Promise<void>;
}

/** Reads `rec`'s flags and queues the step they ask for, if any (one at a time per plugin). */
export async function followFlags(rec: PluginRecord, store: StateStore, logger: Logger, steps: FlagSteps): Promise<void> {
  const entry = rec.entry;
  const deactivated = rec.cursor?.status === 'deactivated';
  if (entry === null || rec.flagStep || (rec.status !== 'running' && rec.status !== 'paused' && !deactivated)) return;
  const state = await store.getPlugin(rec.id);
  if (state === undefined) return;
  if (state.paused && rec.status !== 'paused') {
    logger.info({ plugin: rec.name }, 'plugin disabled; its thread stops and its cursor stays');
    flagStep(rec, steps, async () => {
      await steps.unload(rec);
      if (rec.frozen) rec.frozen.paused = true;
      rec.status = 'paused';
    });
    return;
  }
  if (!state.paused && rec.status === 'paused') {
    logger.info({ plugin: rec.name }, 'plugin enabled; resuming at its cursor');
    flagStep(rec, steps, () => steps.load(rec, entry));
    return;
  }
  if (!deactivated) return;
  // Only a flip from the stored "inactive" counts, not the moment before
  // the deactivation itself reached the state file.
  if (!state.active) rec.sawInactive = true;
  if (state.active && rec.sawInactive) {
    rec.sawInactive = false;
    flagStep(rec, steps, () => steps.reload(rec, entry, 'plugin enabled; resuming at its cursor'));
  }
}

function flagStep(rec: PluginRecord, steps: FlagSteps, step: () => Promise<void>): void {
  rec.flagStep = true;
  void steps.enqueue(rec, step).finally(() => {
    rec.flagStep = false;
  });
}
