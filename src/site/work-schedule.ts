/**
 * Work schedules and site preferences (python-api `work_schedule_read`,
 * `work_schedule_update`, `preferences_read`; protocol.md 6.1).
 *
 * The studio works Monday to Friday. An exception is stored for the studio, a
 * project or a user; a read for (project, user) reports, per day inclusive, the
 * most specific exception (user, then project, then studio), else the work week:
 * `{date: {description, reason, working}}`, reason `{STUDIO,PROJECT,USER}_{WORK_WEEK,EXCEPTION}`.
 */
import { z } from 'zod';
import type { SiteStore } from './store.ts';
import { clientFault } from './faults.ts';
import { isDate, type LinkRef } from './values.ts';

const linkSchema = z.object({ type: z.string(), id: z.number().int() }).passthrough();
export const workScheduleReadSchema = z.object({
  start_date: z.string(), end_date: z.string(), project: linkSchema.nullish(), user: linkSchema.nullish(),
}).passthrough();
export const workScheduleUpdateSchema = z.object({
  date: z.string(), working: z.boolean(), description: z.string().nullish(),
  project: linkSchema.nullish(), user: linkSchema.nullish(),
  recalculate_field: z.enum(['due_date', 'duration']).nullish(),
}).passthrough();
export const preferencesReadSchema = z.object({ prefs: z.array(z.string()).nullish() }).passthrough().nullish();

type Scope = 'STUDIO' | 'PROJECT' | 'USER';

function date(v: string, name: string): string {
  if (!isDate(v)) throw clientFault('SITE_INVALID_PARAMS', `${name} must be a date "YYYY-MM-DD"`, { param: name });
  return v;
}

export class WorkSchedule {
  readonly #store: SiteStore;

  constructor(store: SiteStore) {
    this.#store = store;
    store.db.exec(`CREATE TABLE IF NOT EXISTS work_schedule (scope TEXT NOT NULL, owner_id INTEGER NOT NULL, day TEXT NOT NULL,
      working INTEGER NOT NULL, description TEXT, PRIMARY KEY (scope, owner_id, day))`);
  }

  #link(l: LinkRef | null | undefined, type: 'Project' | 'HumanUser'): LinkRef | null {
    if (l === undefined || l === null) return null;
    if (l.type !== type) throw clientFault('SITE_INVALID_PARAMS', `expected a ${type}`, { entityType: l.type });
    return this.#store.link(l.type, l.id) ?? (() => {
      throw clientFault('SITE_ENTITY_NOT_FOUND', `${l.type} with id ${l.id} does not exist`, { entityType: l.type, id: l.id });
    })();
  }

  read(p: z.infer<typeof workScheduleReadSchema>): Record<string, unknown> {
    const start = date(p.start_date, 'start_date');
    const end = date(p.end_date, 'end_date');
    const project = this.#link(p.project, 'Project');
    const user = this.#link(p.user, 'HumanUser');
    const get = this.#store.prepare('SELECT working, description FROM work_schedule WHERE scope = ? AND owner_id = ? AND day = ?');
    const out: Record<string, unknown> = {};
    for (let d = new Date(`${start}T00:00:00Z`); d <= new Date(`${end}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
      const day = d.toISOString().slice(0, 10);
      const scopes: Array<[Scope, number]> = [];
      if (user !== null) scopes.push(['USER', user.id]);
      if (project !== null) scopes.push(['PROJECT', project.id]);
      scopes.push(['STUDIO', 0]);
      let entry: Record<string, unknown> | undefined;
      for (const [scope, id] of scopes) {
        const r = get.get(scope, id, day) as { working: number; description: string | null } | undefined;
        if (r !== undefined) {
          entry = { description: r.description, reason: `${scope}_EXCEPTION`, working: r.working === 1 };
          break;
        }
      }
      const weekday = d.getUTCDay() !== 0 && d.getUTCDay() !== 6;
      out[day] = entry ?? { description: null, reason: 'STUDIO_WORK_WEEK', working: weekday };
    }
    return out;
  }

  update(p: z.infer<typeof workScheduleUpdateSchema>): Record<string, unknown> {
    const day = date(p.date, 'date');
    const project = this.#link(p.project, 'Project');
    const user = this.#link(p.user, 'HumanUser');
    if (project !== null && user !== null) throw clientFault('SITE_INVALID_PARAMS', 'work_schedule_update takes a project or a user, not both', {});
    const [scope, id]: [Scope, number] = user !== null ? ['USER', user.id] : project !== null ? ['PROJECT', project.id] : ['STUDIO', 0];
    this.#store.prepare(`INSERT INTO work_schedule (scope, owner_id, day, working, description) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (scope, owner_id, day) DO UPDATE SET working = excluded.working, description = excluded.description`)
      .run(scope, id, day, p.working ? 1 : 0, p.description ?? null);
    return { date: day, description: p.description ?? null, project, user, working: p.working };
  }
}

/** The site's preferences, as a fresh real site answers them. */
const PREFERENCES: Readonly<Record<string, unknown>> = {
  date_component_order: 'month_day',
  duration_units: 'days',
  format_currency_fields_decimal_options: '$1,000.99',
  format_currency_fields_display_dollar_sign: false,
  format_currency_fields_negative_options: '- $1,000',
  format_date_fields: '08/04/22 OR 04/08/22 (depending on the Month order preference)',
  format_float_fields: '9,999.99',
  format_float_fields_rounding: '9.999999',
  format_footage_fields: '10-05',
  format_number_fields: '1,000',
  format_time_hour_fields: '12 hour',
  hours_per_day: 8.0,
  support_local_storage: true,
  enable_rv_integration: true,
  enable_shotgun_review_for_rv: false,
  view_master_settings: '{"status_groups":{"active":[],"final":[]}}',
  creative_review_settings: '{}',
};

/** The asked preferences (all when none are named); unknown names are left out. */
export function readPreferences(p: z.infer<typeof preferencesReadSchema>): Record<string, unknown> {
  const names = p?.prefs ?? [];
  if (names.length === 0) return { ...PREFERENCES };
  const out: Record<string, unknown> = {};
  for (const n of names) if (Object.hasOwn(PREFERENCES, n)) out[n] = PREFERENCES[n];
  return out;
}
