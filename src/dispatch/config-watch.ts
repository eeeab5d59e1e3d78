import type { Logger } from 'pino';
import type { EventLog } from '../source/index.ts';

/**
 * Follows the event log (from where it stands at start, in memory only) for
 * changes to PipelineConfiguration records, so the project runtimes built on
 * them are drained and recycled. Runs beside the plugin cursors on the same
 * shared log, so it costs no extra site reads.
 */
export class PipelineConfigurationWatch {
  readonly #log: EventLog;
  readonly #onChange: (projectId: number | null) => void;
  readonly #logger: Logger;
  #stop = new AbortController();
  #running: Promise<void> | null = null;

  constructor(log: EventLog, logger: Logger, onChange: (projectId: number | null) => void) {
    this.#log = log;
    this.#logger = logger;
    this.#onChange = onChange;
  }

  start(): void {
    this.#running ??= this.#loop().catch((err: unknown) => this.#logger.error({ err }, 'watching PipelineConfiguration changes stopped'));
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let pos = this.#log.frontier;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const slice = await this.#log.next(pos, 500, signal);
      for (const e of slice.events) {
        if (e.event_type.startsWith('Shotgun_PipelineConfiguration_')) {
          this.#logger.info({ eventId: e.id, project: e.project?.id ?? null, change: e.event_type, attribute: e.attribute_name }, 'PipelineConfiguration changed: recycling its project runtimes');
          this.#onChange(e.project?.id ?? null);
        }
      }
      pos = Math.max(pos, slice.upTo);
    }
  }
}
