import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino). API keys and Authorization headers are redacted even if
 * a caller passes them in by mistake.
 */
export function createLogger(opts: {
  level: string;
  name: string;
  base?: Record<string, unknown>;
}): Logger {
  return pino({
    name: opts.name,
    level: opts.level,
    base: { ...opts.base },
    redact: {
      paths: ['key', 'apiKey', 'authorization', 'headers.authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
