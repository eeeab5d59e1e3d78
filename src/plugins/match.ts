import type { MatchEvents } from './types.ts';

/** The two event fields matching reads. */
export interface MatchableEvent {
  event_type: string;
  attribute_name?: string | null;
}

// Python's `x in y`: membership for a list, substring for a string.
function pyIn(needle: string, haystack: readonly string[] | string): boolean {
  return haystack.includes(needle);
}

/**
 * shotgunEvents' `Callback.canProcess`, rule for rule: an empty filter takes
 * everything; a `'*'` key replaces the event-type lookup (other keys are then
 * ignored); the attribute list is `null`, contains `'*'`, or must contain the
 * event's (non-empty) `attribute_name`.
 */
export function canProcess(matchEvents: MatchEvents, event: MatchableEvent): boolean {
  if (matchEvents === null || matchEvents === undefined) return true;
  if (Object.keys(matchEvents).length === 0) return true;

  let eventType: string;
  if (Object.hasOwn(matchEvents, '*')) {
    eventType = '*';
  } else {
    eventType = event.event_type;
    if (!Object.hasOwn(matchEvents, eventType)) return false;
  }

  const attributes = matchEvents[eventType];
  if (attributes === null || attributes === undefined || pyIn('*', attributes)) return true;

  const attr = event.attribute_name;
  return typeof attr === 'string' && attr.length > 0 && pyIn(attr, attributes);
}

/** Why a `matchEvents` value is unusable, or null when it is fine. */
export function checkMatchEvents(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) return `matchEvents must be an object or null, got ${Array.isArray(value) ? 'an array' : typeof value}`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return 'matchEvents must be a plain object';
  for (const [type, attrs] of Object.entries(value)) {
    if (attrs === null || typeof attrs === 'string') continue;
    if (Array.isArray(attrs) && attrs.every((a) => typeof a === 'string')) continue;
    return `matchEvents[${JSON.stringify(type)}] must be null, a string or a list of attribute names`;
  }
  return null;
}
