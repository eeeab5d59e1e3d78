// Dead letters queued for a retry (`sgeventd dlq retry`), handed to a
// plugin's cursor as events with their outcome's writes.
import { toEventLogEntry } from '../source/index.ts';
import { describeError } from '../shared/index.ts';
import type { StateStore } from '../state/index.ts';
import type { RetryItem } from './cursor-types.ts';

/** Takes up to `limit` dead letters of plugin `id` queued for a retry; an unreadable one is marked failed. */
export async function takeRetries(deadLetters: StateStore['deadLetters'], id: string, limit: number): Promise<RetryItem[]> {
  const letters = await deadLetters.takeRetries(id, limit);
  const items: RetryItem[] = [];
  for (const letter of letters) {
    let event;
    try {
      event = toEventLogEntry(letter.event as Record<string, unknown>);
    } catch (err) {
      await deadLetters.fail(letter.id, `stored event is unreadable: ${describeError(err)}`);
      continue;
    }
    items.push({
      event,
      resolve: () => deadLetters.resolve(letter.id),
      fail: (error) => deadLetters.fail(letter.id, error),
      release: () => deadLetters.release(letter.id),
    });
  }
  return items;
}
