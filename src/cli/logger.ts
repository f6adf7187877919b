import { pino } from 'pino';
import type { Logger } from '../model/logger.js';

/** JSON-lines logger on stdout. Lines about a session carry `session` through child loggers. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
