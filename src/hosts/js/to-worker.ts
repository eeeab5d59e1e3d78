// What the host sends its plugin thread, and the checks the thread makes on
// receipt. Hand-written guards rather than zod: this module is loaded by every
// plugin thread, and zod alone costs each idle thread about 4 MB (see
// BENCHMARKS.md "Idle memory"). The thread → host messages are parsed with
// zod on the main thread (protocol.ts).
import type { SerializedError } from '../../plugins/errors.ts';
import { decodeBatch } from './batch-wire.ts';

/** What the thread is started with (`workerData`). */
export interface WorkerConfig {
  file: string;
  plugin: string;
  /** The api3 endpoint `sg.endpoint` reports (no credentials in it); the calls themselves run on the main thread. */
  sgEndpoint: string;
  /** The `site` part of callback keys. */
  site: string;
  useSessionUuid: boolean;
  logLevel: string;
}

/** The least an event in a batch must have (the host checked the events already). */
export interface EventShape {
  id: number;
  event_type: string;
}

export interface LoadMessage {
  type: 'load';
}

/**
 * Several events, run one after the other. The thread stops after the first
 * event with a failing callback (or once `budgetMs` has passed) and reports
 * `batch-done`; what ran is written to `progress` (see BatchProgress).
 */
export interface BatchMessage {
  type: 'batch';
  seq: number;
  events: EventShape[];
  /** The events as structured-clone bytes (batch-wire.ts), in place of `events`: the thread reads them into `events`. */
  eventsBytes?: Uint8Array;
  /** Leading events of `eventsBytes` that are not part of this batch. */
  skip?: number;
  attempt: number;
  replay: boolean;
  /** Index of the first callback to consider for the first event (callbacks before it already ran). */
  fromIndex: number;
  budgetMs: number;
  progress: SharedArrayBuffer;
}

/** The answer to a thread's `request`: `result` when ok, else `error`. */
export interface ResponseMessage {
  type: 'response';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: SerializedError | undefined;
}

export interface ShutdownMessage {
  type: 'shutdown';
}

/** The thread went over its memory limit on a sample: collect garbage and report what is left (`collected`). */
export interface CollectMessage {
  type: 'collect';
}

/** Host → thread. */
export type ToWorker = LoadMessage | BatchMessage | ResponseMessage | ShutdownMessage | CollectMessage;

/** The cheap shape check of an event. */
export function isEventShape(v: unknown): v is EventShape {
  return typeof v === 'object' && v !== null && Number.isInteger((v as { id?: unknown }).id) && typeof (v as { event_type?: unknown }).event_type === 'string';
}

type Fields = Record<string, unknown>;

const isInt = (v: unknown): v is number => Number.isInteger(v);

function isSerializedError(v: unknown): v is SerializedError {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Fields;
  return typeof e['name'] === 'string' && typeof e['message'] === 'string' && typeof e['code'] === 'string'
    && (e['stack'] === undefined || typeof e['stack'] === 'string')
    && (e['details'] === undefined || (typeof e['details'] === 'object' && e['details'] !== null && !Array.isArray(e['details'])));
}

/** The message, or what is wrong with it (for the thread's log). */
export function checkToWorker(raw: unknown): ToWorker | string {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const m = raw as Fields;
  switch (m['type']) {
    case 'load':
    case 'shutdown':
    case 'collect':
      return raw as LoadMessage | ShutdownMessage | CollectMessage;
    case 'batch': {
      if (m['eventsBytes'] instanceof Uint8Array) {
        const skip = m['skip'] ?? 0;
        if (!isInt(skip) || skip < 0) return 'batch: skip must be an integer from 0';
        const decoded = decodeBatch(m['eventsBytes'], skip);
        if (typeof decoded === 'string') return decoded;
        m['events'] = decoded;
        delete m['eventsBytes'];
      }
      const events = m['events'];
      if (!isInt(m['seq'])) return 'batch: seq must be an integer';
      if (!Array.isArray(events) || events.length === 0 || !events.every(isEventShape)) return 'batch: events must be a non-empty list of events with a numeric id and an event_type';
      if (!isInt(m['attempt']) || m['attempt'] < 1) return 'batch: attempt must be an integer from 1';
      if (typeof m['replay'] !== 'boolean') return 'batch: replay must be a boolean';
      if (!isInt(m['fromIndex']) || m['fromIndex'] < 0) return 'batch: fromIndex must be an integer from 0';
      if (typeof m['budgetMs'] !== 'number' || !(m['budgetMs'] > 0)) return 'batch: budgetMs must be a positive number';
      if (!(m['progress'] instanceof SharedArrayBuffer)) return 'batch: progress must be a SharedArrayBuffer';
      return raw as BatchMessage;
    }
    case 'response':
      if (!isInt(m['id'])) return 'response: id must be an integer';
      if (typeof m['ok'] !== 'boolean') return 'response: ok must be a boolean';
      if (m['error'] !== undefined && !isSerializedError(m['error'])) return 'response: error must be a serialized error';
      return raw as ResponseMessage;
    default:
      return `unknown message type ${JSON.stringify(m['type'])}`;
  }
}

/** Checks `workerData`; throws a TypeError naming the field (the thread then dies and the host reports it). */
export function checkWorkerConfig(raw: unknown): WorkerConfig {
  if (typeof raw !== 'object' || raw === null) throw new TypeError('plugin thread config: expected an object');
  const c = raw as Fields;
  for (const key of ['file', 'plugin', 'sgEndpoint', 'site', 'logLevel'] as const) {
    if (typeof c[key] !== 'string') throw new TypeError(`plugin thread config: ${key} must be a string`);
  }
  if (typeof c['useSessionUuid'] !== 'boolean') throw new TypeError('plugin thread config: useSessionUuid must be a boolean');
  return raw as WorkerConfig;
}
