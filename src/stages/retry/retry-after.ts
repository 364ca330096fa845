/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an
 * HTTP-date. Returns milliseconds to wait (0 for a date in the past), or
 * `undefined` when absent or malformed. `wallClock` is the current time in
 * epoch milliseconds, for dates.
 *
 * @example
 * ```ts
 * parseRetryAfter('2', Date.now()); // 2000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now());
 * ```
 */
export function parseRetryAfter(value: string | string[] | number | undefined, wallClock: number): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date always names the day and ends in GMT; Date.parse alone accepts far more.
  if (!/^[A-Za-z]{3},? .*GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - wallClock);
}
