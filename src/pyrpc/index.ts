/**
 * JSON-lines RPC to Python children, below `toolkit/` and the hosts: it
 * imports only `shared/`, node builtins and zod.
 * - reader.ts: framing (bounded lines; a protocol line too long or not JSON
 *   is TK_PROTOCOL), and log lines from stdout/stderr.
 * - writer.ts: the one serialised, backpressure-aware writer of the request pipe.
 * - connection.ts: request ids, the pending map, per-call timeouts (from when
 *   a request is written; each progress step re-arms it), AbortSignals; when
 *   the child is gone every pending call is rejected, then sends are refused.
 * - child.ts: spawn (fd 3/4, own process group), the `init` handshake, the
 *   escalating kill, exit watching, the RSS sampler (`maxRssMb`, Linux).
 * The Python side is src/toolkit/python/sgeventd_protocol.py.
 *
 * Error codes keep the `TK_` names they had when only Toolkit runtimes spoke
 * this protocol, because plugins, dead letters and tests match on them; the
 * list is in errors.ts.
 */
export { PythonChild, RSS_SAMPLE_MS, residentMb, silentLogger } from './child.ts';
export type { ChildOptions, ChildState, ChildLogger } from './child.ts';
export { Connection, ChildMessageSchema } from './connection.ts';
export type { CallOptions, ConnectionOptions, ChildMessage } from './connection.ts';
export { PyrpcError, PythonError, ChildExited, initFailure } from './errors.ts';
export { LineSplitter, forwardLines, readMessages } from './reader.ts';
export { LineWriter } from './writer.ts';
