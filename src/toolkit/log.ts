/** The subset of a pino logger the toolkit uses; a pino logger fits as is. */
export interface ToolkitLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

const noop = (): void => undefined;

export const silentLogger: ToolkitLogger = { debug: noop, info: noop, warn: noop, error: noop };
