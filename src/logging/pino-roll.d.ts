// pino-roll ships no types; this is the part of its API used here.
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';
  interface RollOptions {
    file: string | (() => string);
    size?: number | string;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    symlink?: boolean;
    mkdir?: boolean;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    dateFormat?: string;
  }
  export default function roll(options: RollOptions): Promise<DestinationStream & { end(): void; flushSync(): void }>;
}
