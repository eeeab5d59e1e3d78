import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/** A listening server: its URL, and an idempotent close that ends kept connections too. */
export interface Listening {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts `server` on `host:port` (the status server and the webhook receiver).
 * A failure to listen rejects with `failure(err)`, a coded error of the
 * caller's; errors after that are logged as `<what> error`.
 */
export async function listen(
  server: Server, host: string, port: number,
  opts: { logger: Logger; what: string; failure: (err: NodeJS.ErrnoException) => Error; path?: string },
): Promise<Listening> {
  const { logger, what } = opts;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(opts.failure(err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, `${what} error`));
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}${opts.path ?? ''}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close((err) => {
          if (err) logger.warn({ err }, `${what}: close`);
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
