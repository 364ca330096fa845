/** The `Cookie` header is searched this far, so a huge header costs bounded work. */
export const MAX_COOKIE_SCAN = 16 * 1024;

/** Where a cookie sits in a `Cookie` header; filled by {@link scanCookie}, reusable across calls. */
export interface CookieSpan {
  /** Start of `name=value`. */
  pairStart: number;
  /** Start of the value, after an opening double quote. */
  start: number;
  /** End of the value, before a closing double quote. */
  end: number;
  /** End of the value as written (quotes included, trailing spaces excluded). */
  valueEnd: number;
}

/**
 * Finds cookie `name` in a `Cookie` header (`a=1; b="2"`), searching at most
 * {@link MAX_COOKIE_SCAN} characters, so a huge or malformed header costs
 * bounded work and never throws. Fills `span` and returns true, or returns
 * false when the cookie is missing, empty, or cut off by the scan limit.
 * Surrounding double quotes are dropped, as RFC 6265 allows them around a
 * value. Allocates nothing.
 *
 * @example
 * ```ts
 * import { scanCookie } from './cookie-scan.js';
 * const span = { pairStart: 0, start: 0, end: 0, valueEnd: 0 };
 * const header = 'a=1; session="xyz"';
 * if (scanCookie(header, 'session', span)) header.slice(span.start, span.end); // 'xyz'
 * ```
 */
export function scanCookie(header: string, name: string, span: CookieSpan): boolean {
  const truncated = header.length > MAX_COOKIE_SCAN;
  // A sliced string shares the original's characters: O(1), and it bounds indexOf below.
  const text = truncated ? header.slice(0, MAX_COOKIE_SCAN) : header;
  const limit = text.length;
  const n = name.length;
  let i = 0;
  while (i < limit) {
    let c = text.charCodeAt(i);
    while ((c === 32 || c === 9) && ++i < limit) c = text.charCodeAt(i);
    const semicolon = text.indexOf(';', i);
    let end = semicolon === -1 ? limit : semicolon;
    if (end - i > n && text.charCodeAt(i + n) === 61 && text.startsWith(name, i)) {
      // A value cut off by the scan limit is not the value: treat as missing.
      if (truncated && semicolon === -1) return false;
      let start = i + n + 1;
      while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
      const valueEnd = end;
      if (end - start >= 2 && text.charCodeAt(start) === 34 && text.charCodeAt(end - 1) === 34) {
        start++;
        end--;
      }
      if (end <= start) return false;
      span.pairStart = i;
      span.start = start;
      span.end = end;
      span.valueEnd = valueEnd;
      return true;
    }
    i = end + 1;
  }
  return false;
}
