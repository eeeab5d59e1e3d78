import type { ChildLogger } from '../pyrpc/index.ts';

/** The subset of a pino logger the toolkit uses (the same as its Python children's); a pino logger fits as is. */
export type ToolkitLogger = ChildLogger;

export { silentLogger } from '../pyrpc/index.ts';
