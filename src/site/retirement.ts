/**
 * Retire and revive, with their event rows (protocol.md 3.2-3.3):
 * - a `retirement_date` side row (`Shotgun_<T>_Change`, null entity, no field_data_type)
 *   with the date on retirement and null on revival;
 * - `Shotgun_<T>_Retirement` (meta `entity_retirement`) and `Shotgun_<T>_Revival`;
 * - retiring a record retires its Tasks (`Task.entity`) with it; reviving it revives
 *   them, writing their `retirement_date` rows first, then the parent's, and only then
 *   the parent's Revival: children before the parent (ayon-shotgrid PR #122).
 */
import type { EntityDef } from './schema.ts';
import { quoteIdent } from './schema.ts';
import type { Row, SiteStore } from './store.ts';
import type { Actor, EventLog } from './events.ts';
import { clientFault } from './faults.ts';

export class Retirement {
  readonly store: SiteStore;
  readonly events: EventLog;
  readonly #logging: () => boolean;

  constructor(store: SiteStore, events: EventLog, logging: () => boolean) {
    this.store = store;
    this.events = events;
    this.#logging = logging;
    store.db.exec(`CREATE TABLE IF NOT EXISTS retired_with (child_type TEXT NOT NULL, child_id INTEGER NOT NULL,
      parent_type TEXT NOT NULL, parent_id INTEGER NOT NULL, PRIMARY KEY (child_type, child_id))`);
  }

  #row(ent: EntityDef, id: unknown): Row {
    const row = typeof id === 'number' ? this.store.row(ent, id) : undefined;
    if (row === undefined) throw clientFault('SITE_ENTITY_NOT_FOUND', `${ent.name} with id ${String(id)} does not exist`, { entityType: ent.name, id });
    return row;
  }

  #display(ent: EntityDef, row: Row): string {
    const v = row[ent.displayField];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : `#${row.id}`;
  }

  /** Active Tasks whose `entity` is this record. */
  #tasksOf(ent: EntityDef, id: number): Row[] {
    const task = this.store.schema.entities.get('Task');
    if (task === undefined || ent.name === 'Task' || !task.fields.has('entity')) return [];
    return this.store.prepare(`SELECT * FROM ${quoteIdent(task.table)} WHERE entity__type = ? AND entity__id = ? AND _retired = 0 AND _hidden = 0 ORDER BY id`)
      .all(ent.name, id) as Row[];
  }

  retire(actor: Actor, ent: EntityDef, id: unknown, now: Date): boolean {
    const row = this.#row(ent, id);
    if (row._retired === 1) return false;
    const date = `${now.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    const task = this.store.schema.entities.get('Task');
    for (const child of this.#tasksOf(ent, row.id)) {
      this.#retireOne(actor, task!, child, date);
      this.store.prepare('INSERT OR REPLACE INTO retired_with (child_type, child_id, parent_type, parent_id) VALUES (?, ?, ?, ?)').run('Task', child.id, ent.name, row.id);
    }
    this.#retireOne(actor, ent, row, date);
    return true;
  }

  #retireOne(actor: Actor, ent: EntityDef, row: Row, date: string): void {
    this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET _retired = 1 WHERE id = ?`).run(row.id);
    if (!this.#logging()) return;
    const display = this.#display(ent, row);
    const self = { type: ent.name, id: row.id };
    const project = this.events.projectOf(ent, row);
    this.events.retirementSide(actor, ent, self, project, { old_value: null, new_value: date }, display);
    this.events.log(actor, {
      eventType: `Shotgun_${ent.name}_Retirement`, attributeName: null, entity: self, project,
      meta: { type: 'entity_retirement', class_name: ent.name, display_name: display, entity_id: row.id, entity_type: ent.name, id: row.id, retirement_date: date },
      description: `${this.events.name(actor.user)} retired ${ent.name} ${display}`,
    });
  }

  revive(actor: Actor, ent: EntityDef, id: unknown): boolean {
    const row = this.#row(ent, id);
    if (row._retired === 0) return false;
    const children = this.store.prepare('SELECT child_type AS type, child_id AS id FROM retired_with WHERE parent_type = ? AND parent_id = ? ORDER BY child_id')
      .all(ent.name, row.id) as Array<{ type: string; id: number }>;
    for (const c of children) {
      const cEnt = this.store.schema.entities.get(c.type);
      const cRow = cEnt === undefined ? undefined : this.store.row(cEnt, c.id);
      if (cEnt !== undefined && cRow !== undefined && cRow._retired === 1) this.#reviveOne(actor, cEnt, cRow, false);
    }
    this.store.prepare('DELETE FROM retired_with WHERE parent_type = ? AND parent_id = ?').run(ent.name, row.id);
    this.store.prepare('DELETE FROM retired_with WHERE child_type = ? AND child_id = ?').run(ent.name, row.id);
    this.#reviveOne(actor, ent, row, true);
    return true;
  }

  #reviveOne(actor: Actor, ent: EntityDef, row: Row, revivalRow: boolean): void {
    this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET _retired = 0 WHERE id = ?`).run(row.id);
    if (!this.#logging()) return;
    const display = this.#display(ent, row);
    const self = { type: ent.name, id: row.id };
    const project = this.events.projectOf(ent, row);
    const retired = this.store.prepare('SELECT meta FROM e_EventLogEntry WHERE event_type = ? AND entity__type = ? AND entity__id = ? ORDER BY id DESC LIMIT 1')
      .get(`Shotgun_${ent.name}_Retirement`, ent.name, row.id) as { meta: string } | undefined;
    const was = retired === undefined ? null : (JSON.parse(retired.meta) as { retirement_date?: string }).retirement_date ?? null;
    this.events.retirementSide(actor, ent, self, project, { old_value: was, new_value: null }, display);
    if (!revivalRow) return;
    this.events.log(actor, {
      eventType: `Shotgun_${ent.name}_Revival`, attributeName: null, entity: self, project,
      meta: { class_name: ent.name, display_name: display, entity_id: row.id, entity_type: ent.name, id: row.id },
      description: `${this.events.name(actor.user)} revived ${ent.name} ${display}`,
    });
  }
}
