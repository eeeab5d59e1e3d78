import type { ShotgunClient } from '../../shotgrid/index.ts';

const STATUSES = ['wtg', 'rdy', 'ip', 'rev', 'fin'] as const;

/**
 * Steady, varied activity on the demo site, as artists would make it:
 * new shots, status changes, a retirement now and then and its revival.
 */
export class DemoActivity {
  readonly #sg: ShotgunClient;
  readonly #projects: readonly number[];
  #timer: NodeJS.Timeout | null = null;
  #tick = 0;
  #retired: number[] = [];
  #running: Promise<void> | null = null;
  readonly #onError: (err: unknown) => void;

  constructor(sg: ShotgunClient, projects: readonly number[], onError: (err: unknown) => void) {
    this.#sg = sg;
    this.#projects = projects;
    this.#onError = onError;
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.step()
        .catch((err: unknown) => this.#onError(err))
        .finally(() => {
          this.#running = null;
        });
    }, everyMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One action; alternates projects so both runtimes stay busy. */
  async step(): Promise<void> {
    const n = this.#tick++;
    const project = { type: 'Project', id: this.#projects[n % this.#projects.length] ?? 1 };
    const kind = n % 6;
    if (kind === 0 || kind === 3) {
      const seq = await this.#sg.findOne('Sequence', [['project', 'is', project]], ['id']);
      await this.#sg.create('Shot', {
        code: `SH${String(100 + n).padStart(4, '0')}`,
        project,
        sg_status_list: 'wtg',
        ...(seq ? { sg_sequence: { type: 'Sequence', id: seq['id'] } } : {}),
      });
    } else if (kind === 5 && this.#retired.length > 0) {
      const id = this.#retired.shift();
      if (id !== undefined) await this.#sg.revive('Shot', id);
    } else if (kind === 4 && n % 12 === 4) {
      const shot = await this.#sg.findOne('Shot', [['project', 'is', project]], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
      if (shot && typeof shot['id'] === 'number') {
        await this.#sg.delete('Shot', shot['id']);
        this.#retired.push(shot['id']);
      }
    } else {
      const shots = await this.#sg.find('Shot', [['project', 'is', project]], ['id', 'sg_status_list'], { limit: 20, order: [{ field_name: 'id', direction: 'desc' }] });
      const shot = shots[n % Math.max(1, shots.length)];
      if (shot && typeof shot['id'] === 'number') {
        const at = STATUSES.indexOf(shot['sg_status_list'] as (typeof STATUSES)[number]);
        await this.#sg.update('Shot', shot['id'], { sg_status_list: STATUSES[(at + 1) % STATUSES.length] });
      }
    }
  }
}
