// The webhook listener's thread: answers deliveries itself and posts what it
// saw to the main thread, so a busy main thread (a 50,000-event catch-up)
// never delays an answer the site times and counts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { pino } from 'pino';
import { startListener } from './webhooks-listener.ts';
import { listenerConfigSchema, toListenerSchema, type FromListener } from './webhooks-protocol.ts';

function parentOrThrow(): MessagePort {
  if (parentPort === null) throw new Error('webhooks-thread.ts runs as a worker thread only');
  return parentPort;
}
const port = parentOrThrow();
const config = listenerConfigSchema.parse(workerData);
const send = (m: FromListener): void => port.postMessage(m);

// Lines go to the main thread's logger, which adds its own fields and destination.
const logger = pino({ level: config.logLevel, base: null, timestamp: false }, { write: (line: string) => send({ type: 'log', line }) });

async function main(): Promise<void> {
  let listening;
  try {
    listening = await startListener({
      host: config.host, port: config.port, path: config.path, secrets: config.secrets, logger,
      sink: {
        delivery: (d) => send({ type: 'delivery', atLeastId: Math.max(...d.eventIds), events: d.eventIds.length, deliveryId: d.deliveryId, batched: d.batched }),
        result: (result) => send({ type: 'result', result }),
      },
      failure: (err) => err,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    send({ type: 'listen-failed', message: e.message, errno: e.code ?? null });
    port.close();
    return;
  }
  send({ type: 'listening', url: listening.url });
  const stop = listening;
  port.on('message', (raw: unknown) => {
    toListenerSchema.parse(raw);
    void stop.close().then(() => {
      send({ type: 'closed' });
      port.close();
    });
  });
}

await main();
