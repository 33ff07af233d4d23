import { type Logger, pino } from 'pino';
import type { LogLevel } from './log-levels.js';

export type { Logger };

/**
 * JSON lines on stderr. Written from the main thread through sonic-boom: pino's transports would start a worker
 * thread, which costs ~10 MB of RSS on a device for nothing.
 */
export function createLogger(level: LogLevel, bindings: Record<string, string> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ fd: 2, sync: false }));
}
