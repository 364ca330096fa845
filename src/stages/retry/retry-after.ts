const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

// RFC 9110 §5.6.7: the preferred IMF-fixdate and the two obsolete forms a recipient must accept.
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC_850 =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

function utc(year: number, month: string, day: number, h: string, m: string, s: string): number | undefined {
  const index = MONTHS[month];
  const hours = Number(h);
  const minutes = Number(m);
  const seconds = Number(s);
  // 60 is a leap second (IMF-fixdate allows it); anything past it is not a time.
  if (index === undefined || day < 1 || day > 31 || hours > 23 || minutes > 59 || seconds > 60) return undefined;
  const at = Date.UTC(year, index, day, hours, minutes, Math.min(seconds, 59));
  // Reject a day the month does not have (31 Feb would roll over into March).
  return new Date(at).getUTCDate() === day ? at : undefined;
}

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three forms:
 * IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
 * (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
 * Returns epoch milliseconds, or `undefined` when `text` is none of them.
 * `wallClock` (epoch ms) places a two-digit RFC 850 year: one that would be
 * more than 50 years in the future is read as the past century's, as §5.6.7 says.
 *
 * @example
 * ```ts
 * import { parseHttpDate } from './retry-after.js';
 * parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.now()); // 784111777000
 * ```
 */
export function parseHttpDate(text: string, wallClock: number): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, h, m, s] = match as unknown as string[];
    return utc(Number(year), month as string, Number(day), h as string, m as string, s as string);
  }
  match = RFC_850.exec(text);
  if (match) {
    const [, day, month, yy, h, m, s] = match as unknown as string[];
    const thisYear = new Date(wallClock).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(yy);
    if (year > thisYear + 50) year -= 100;
    return utc(year, month as string, Number(day), h as string, m as string, s as string);
  }
  match = ASCTIME.exec(text);
  if (match) {
    const [, month, day, h, m, s, year] = match as unknown as string[];
    return utc(Number(year), month as string, Number((day as string).trim()), h as string, m as string, s as string);
  }
  return undefined;
}

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an
 * HTTP-date in any of its three forms (see `parseHttpDate` in this file). Returns
 * milliseconds to wait (0 for a date in the past), or `undefined` when absent
 * or malformed. `wallClock` is the current time in epoch milliseconds, for dates.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from 'switchyard-lb';
 * parseRetryAfter('2', Date.now()); // 2000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now());
 * parseRetryAfter('Wednesday, 21-Oct-26 07:28:00 GMT', Date.now());
 * parseRetryAfter('Wed Oct 21 07:28:00 2026', Date.now());
 * ```
 */
export function parseRetryAfter(value: string | string[] | number | undefined, wallClock: number): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = parseHttpDate(text, wallClock);
  return at === undefined ? undefined : Math.max(0, at - wallClock);
}
