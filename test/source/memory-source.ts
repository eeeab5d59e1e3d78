import type { EventLogEntry } from '../../src/shared/index.ts';
import type { EventSource } from '../../src/source/index.ts';

/** An in-memory event log with hidden (late) ids, for exercising the reader's range logic. */
export class MemorySource implements EventSource {
  readonly events: EventLogEntry[] = [];
  readonly hidden = new Set<number>();
  calls = { newestId: 0, readAfter: 0, readIds: 0 };

  add(count: number, opts: { createdAt?: Date } = {}): number[] {
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = (this.events.at(-1)?.id ?? 0) + 1;
      this.events.push(makeEvent(id, opts.createdAt ?? new Date()));
      ids.push(id);
    }
    return ids;
  }

  newestId(): Promise<number> {
    this.calls.newestId++;
    return Promise.resolve(this.#visible().at(-1)?.id ?? 0);
  }

  readAfter(afterId: number, limit: number): Promise<EventLogEntry[]> {
    this.calls.readAfter++;
    return Promise.resolve(this.#visible().filter((e) => e.id > afterId).slice(0, limit));
  }

  readIds(ids: readonly number[]): Promise<EventLogEntry[]> {
    this.calls.readIds++;
    const want = new Set(ids);
    return Promise.resolve(this.#visible().filter((e) => want.has(e.id)));
  }

  #visible(): EventLogEntry[] {
    return this.events.filter((e) => !this.hidden.has(e.id));
  }
}

export function makeEvent(id: number, createdAt = new Date()): EventLogEntry {
  return {
    type: 'EventLogEntry',
    id,
    event_type: 'Shotgun_Shot_Change',
    attribute_name: 'sg_status_list',
    meta: { type: 'attribute_change', old_value: 'wtg', new_value: 'ip' },
    entity: { type: 'Shot', id: 1 },
    user: { type: 'ApiUser', id: 1 },
    project: { type: 'Project', id: 1 },
    session_uuid: null,
    created_at: createdAt,
  };
}
