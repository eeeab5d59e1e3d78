/**
 * A Note's read state, which a real site keeps per user: `update('Note', id,
 * {'read_by_current_user': 'read' | 'unread'})` marks it for the calling user
 * and logs `Shotgun_Reading_Change` (protocol.md 3.3: entity = the Note,
 * `attribute_name: read_by_current_user`, meta without entity_type/entity_id),
 * not a `Shotgun_Note_Change`.
 */
import type { EntityDef } from './schema.ts';
import type { Row, SiteStore } from './store.ts';
import type { EventLog, Actor } from './events.ts';
import { clientFault } from './faults.ts';

export const READ_FIELD = 'read_by_current_user';

export class NoteReading {
  readonly #store: SiteStore;
  #ready = false;

  constructor(store: SiteStore) {
    this.#store = store;
  }

  #table(): void {
    if (this.#ready) return;
    this.#store.db.exec(`CREATE TABLE IF NOT EXISTS note_reads (
      note_id INTEGER NOT NULL, user_type TEXT NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (note_id, user_type, user_id))`);
    this.#ready = true;
  }

  /** 'read' or 'unread' for the actor. */
  state(actor: Actor, noteId: number): 'read' | 'unread' {
    this.#table();
    const r = this.#store.db.prepare('SELECT 1 FROM note_reads WHERE note_id = ? AND user_type = ? AND user_id = ?').get(noteId, actor.user.type, actor.user.id);
    return r === undefined ? 'unread' : 'read';
  }

  /** Marks the Note for the actor; logs the event when the state changed. Returns the state now. */
  mark(actor: Actor, events: EventLog, ent: EntityDef, row: Row, value: unknown, logging: boolean, display: string): 'read' | 'unread' {
    if (value !== 'read' && value !== 'unread') {
      throw clientFault('SITE_INVALID_VALUE', `Note.${READ_FIELD} must be 'read' or 'unread', got ${JSON.stringify(value)}`, { entityType: ent.name, field: READ_FIELD });
    }
    if (this.state(actor, row.id) === value) return value;
    if (value === 'read') this.#store.db.prepare('INSERT INTO note_reads (note_id, user_type, user_id) VALUES (?, ?, ?)').run(row.id, actor.user.type, actor.user.id);
    else this.#store.db.prepare('DELETE FROM note_reads WHERE note_id = ? AND user_type = ? AND user_id = ?').run(row.id, actor.user.type, actor.user.id);
    if (logging) {
      events.log(actor, {
        eventType: 'Shotgun_Reading_Change', attributeName: READ_FIELD, entity: { type: ent.name, id: row.id }, project: events.projectOf(ent, row),
        meta: { type: 'attribute_change', attribute_name: READ_FIELD, new_value: value, old_value: null },
        description: `${events.name(actor.user)} marked ${ent.name} ${display} as ${value}`,
      });
    }
    return value;
  }
}
