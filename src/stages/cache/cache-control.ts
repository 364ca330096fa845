/** Cache-Control headers are read this far: a hostile one costs bounded work. */
const MAX_SCAN = 4096;

/** Largest delta-seconds honoured (RFC 9111 §1.2.2 suggests 2^31). */
const MAX_SECONDS = 2_147_483_648;

/**
 * The `Cache-Control` directives a shared cache acts on (RFC 9111 §5.2).
 * Qualified forms (`no-cache="Set-Cookie"`, `private="x"`) count as the
 * unqualified directive: stricter, never wrong.
 */
export interface CacheDirectives {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  /** `max-age` in seconds; 0 when its value is invalid (RFC 9111 §1.2.2: treat as stale). */
  maxAge: number | undefined;
  /** `s-maxage` in seconds, which a shared cache prefers to `max-age`. */
  sMaxAge: number | undefined;
}

function deltaSeconds(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) return 0;
  return Math.min(Number(value), MAX_SECONDS);
}

/**
 * Parses `Cache-Control` (repeated fields joined). Unknown directives are
 * ignored; for a repeated one, the first counts.
 *
 * @example
 * ```ts
 * import { parseCacheControl } from './cache-control.js';
 * parseCacheControl('public, s-maxage=60, max-age=10').sMaxAge; // 60
 * ```
 */
export function parseCacheControl(header: string | string[] | undefined): CacheDirectives {
  const directives: CacheDirectives = {
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    maxAge: undefined,
    sMaxAge: undefined,
  };
  if (header === undefined) return directives;
  let text = Array.isArray(header) ? header.join(',') : header;
  if (text.length > MAX_SCAN) text = text.slice(0, MAX_SCAN);
  const limit = text.length;
  let i = 0;
  while (i < limit) {
    while (i < limit && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
    let j = i;
    while (j < limit && text[j] !== '=' && text[j] !== ',' && text[j] !== ' ' && text[j] !== '\t') j++;
    const name = text.slice(i, j).toLowerCase();
    while (j < limit && (text[j] === ' ' || text[j] === '\t')) j++;
    let value: string | undefined;
    if (text[j] === '=') {
      j++;
      while (j < limit && (text[j] === ' ' || text[j] === '\t')) j++;
      if (text[j] === '"') {
        const close = text.indexOf('"', j + 1);
        const end = close === -1 ? limit : close;
        value = text.slice(j + 1, end);
        j = end + 1;
      } else {
        const start = j;
        while (j < limit && text[j] !== ',' && text[j] !== ' ' && text[j] !== '\t') j++;
        value = text.slice(start, j);
      }
    }
    switch (name) {
      case 'no-store':
        directives.noStore = true;
        break;
      case 'no-cache':
        directives.noCache = true;
        break;
      case 'private':
        directives.private = true;
        break;
      case 'public':
        directives.public = true;
        break;
      case 'must-revalidate':
      case 'proxy-revalidate':
        directives.mustRevalidate = true;
        break;
      case 'max-age':
        directives.maxAge ??= deltaSeconds(value);
        break;
      case 's-maxage':
        directives.sMaxAge ??= deltaSeconds(value);
        break;
    }
    const comma = text.indexOf(',', j);
    i = comma === -1 ? limit : comma + 1;
  }
  return directives;
}

/**
 * How long a response stays fresh in a shared cache, in milliseconds
 * (RFC 9111 §4.2.1): `s-maxage`, else `max-age`, else `Expires` minus
 * `Date`; `undefined` when the response says nothing (the caller may apply
 * a heuristic). An invalid `Expires` means already stale.
 *
 * @example
 * ```ts
 * import { freshnessLifetime, parseCacheControl } from './cache-control.js';
 * freshnessLifetime(parseCacheControl('max-age=60'), undefined, undefined, Date.now()); // 60000
 * ```
 */
export function freshnessLifetime(
  directives: CacheDirectives,
  expires: string | undefined,
  date: string | undefined,
  wallNow: number,
): number | undefined {
  if (directives.sMaxAge !== undefined) return directives.sMaxAge * 1000;
  if (directives.maxAge !== undefined) return directives.maxAge * 1000;
  if (expires === undefined) return undefined;
  const expiresAt = Date.parse(expires);
  if (Number.isNaN(expiresAt)) return 0;
  const dateAt = date === undefined ? Number.NaN : Date.parse(date);
  return Math.max(0, expiresAt - (Number.isNaN(dateAt) ? wallNow : dateAt));
}

/** The `Age` a response arrived with, in milliseconds (0 when absent or invalid). */
export function ageOf(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && /^\d+$/.test(value.trim()) ? Math.min(Number(value), MAX_SECONDS) * 1000 : 0;
}
