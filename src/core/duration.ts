import { ConfigError } from './errors.js';

/**
 * A duration: milliseconds as a number, or a string with a unit:
 * `'250ms'`, `'5s'`, `'1m'`, `'1h'`, `'1.5s'`.
 */
export type Duration = number | `${number}${DurationUnit}`;

/** Units a duration string may carry. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/**
 * Converts a {@link Duration} to milliseconds, or throws a `ConfigError`
 * naming `path`.
 *
 * @example
 * ```ts
 * import { parseDuration } from 'switchyard-lb';
 * parseDuration('1.5s'); // 1500
 * ```
 */
export function parseDuration(value: unknown, path = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) return Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  }
  throw new ConfigError(path, value, "a duration: milliseconds >= 0 or a string such as '250ms', '5s', '1m'");
}
