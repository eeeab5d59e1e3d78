import { InvalidArgumentError } from 'commander';

/** Parses an event id option: a non-negative integer. */
export function parseEventId(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an event id (a non-negative integer), got ${JSON.stringify(value)}`);
  return n;
}
