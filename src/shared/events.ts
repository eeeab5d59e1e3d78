/** A link to an entity as the site returns it. */
export interface EntityLink {
  type: string;
  id: number;
  name?: string | null;
  [field: string]: unknown;
}

/**
 * One row of the site's event log, as plugins receive it: the same fields
 * shotgunEvents reads, with `created_at` decoded to a `Date`.
 *
 * @example
 * if (event.event_type === 'Shotgun_Shot_Change' && event.attribute_name === 'sg_status_list') {
 *   logger.info({ shot: event.entity?.id, to: event.meta?.new_value }, 'status changed');
 * }
 */
export interface EventLogEntry {
  type: 'EventLogEntry';
  id: number;
  event_type: string;
  attribute_name: string | null;
  meta: Record<string, unknown> | null;
  entity: EntityLink | null;
  user: EntityLink | null;
  project: EntityLink | null;
  session_uuid: string | null;
  created_at: Date | null;
  description?: string | null;
  [field: string]: unknown;
}

/** The fields the daemon reads for every event (shotgunEvents reads the same). */
export const EVENT_FIELDS: readonly string[] = [
  'id', 'event_type', 'attribute_name', 'meta', 'entity', 'user', 'project', 'session_uuid', 'created_at', 'description',
];
