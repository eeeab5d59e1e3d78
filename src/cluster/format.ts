// The message-format version of everything a node writes to NATS. Nodes of
// different versions refuse each other's records clearly instead of
// misreading them (a rolling upgrade across a format change stops the old
// nodes first).
import { ClusterFormatError } from './errors.ts';

/** The format this build reads and writes. */
export const CLUSTER_FORMAT = 1;

/** Header carrying the format on every event message. */
export const FORMAT_HEADER = 'Sgeventd-Format';

/** Throws CLUSTER_FORMAT_MISMATCH unless `found` is this build's format. */
export function checkFormat(found: unknown, where: string): void {
  if (found !== CLUSTER_FORMAT) throw new ClusterFormatError(where, found, CLUSTER_FORMAT);
}
