export { PythonChild, RSS_SAMPLE_MS, residentMb } from './child.ts';
export type { ChildOptions, ChildState, ChildLogger } from './child.ts';
export { Connection, ChildMessageSchema } from './connection.ts';
export type { CallOptions, ConnectionOptions, ChildMessage } from './connection.ts';
export { PyrpcError, PythonError, ChildExited, initFailure } from './errors.ts';
export { LineSplitter, forwardLines, readMessages } from './reader.ts';
export { LineWriter } from './writer.ts';
