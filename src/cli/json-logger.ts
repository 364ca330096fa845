import type { Logger, LogLevel } from '../surfaces/observability/logger.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * A minimal pino-compatible logger writing one JSON object per line
 * (`time`, `level`, `msg`, then the fields), from `level` up.
 *
 * @example
 * ```ts
 * import { jsonLogger } from './json-logger.js';
 * const logger = jsonLogger((line) => process.stdout.write(line), 'info');
 * logger.info({ port: 8080 }, 'listening');
 * ```
 */
export function jsonLogger(write: (line: string) => void, level: LogLevel = 'info'): Logger {
  const min = RANK[level];
  const at = (name: LogLevel) =>
    RANK[name] < min
      ? () => {}
      : (obj: object, msg?: string) => {
          let line: string;
          try {
            line = JSON.stringify({ time: new Date().toISOString(), level: name, msg, ...obj }, replacer);
          } catch {
            // A cyclic field must not lose the line.
            line = JSON.stringify({ time: new Date().toISOString(), level: name, msg });
          }
          write(`${line}\n`);
        };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
