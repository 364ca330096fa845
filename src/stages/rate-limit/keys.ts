import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Context } from '../../core/context.js';

/**
 * A user function naming the bucket a request counts against. Return
 * `undefined` to exempt the request from this limit. If it throws or returns
 * anything but a non-empty string, the request is keyed by client IP (and a
 * warning is emitted): a broken key function never fails or frees a request.
 */
export type RateLimitKeyFunction = (ctx: Context) => string | undefined;

/** The `key` option, resolved. */
export type RateLimitKey =
  | 'ip'
  | 'route'
  | { readonly header: string }
  | { readonly route: readonly (string | RegExp)[] }
  | RateLimitKeyFunction;

/** Computes a request's key for one limit; `undefined` means the limit does not apply. */
export type KeyResolver = (ctx: Context) => string | undefined;

/** Keys longer than this are replaced by a digest, so a hostile header cannot make huge keys. */
export const MAX_KEY_LENGTH = 200;

/** Bounds a key's length: a long key becomes `<kind>#<sha256, base64url>` (still unique per value). */
export function boundKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH) return key;
  const kind = key.slice(0, key.indexOf(':') + 1);
  return `${kind}#${createHash('sha256').update(key).digest('base64url')}`;
}

/**
 * The IPv6 network of `address` at `bits` (`2001:db8:1:2::/64`): one IPv6
 * client usually owns a whole /64 (or more) and could otherwise rotate
 * addresses to dodge a per-IP limit. IPv4 addresses are returned as is.
 */
export function ipKey(address: string, bits: number | false): string {
  if (bits === false || isIP(address) !== 6) return address;
  const groups = expandIPv6(address);
  if (!groups) return address;
  let out = '';
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    if (keep === 0) break;
    const mask = keep === 16 ? 0xffff : (0xffff << (16 - keep)) & 0xffff;
    out += `${i === 0 ? '' : ':'}${((groups[i] ?? 0) & mask).toString(16)}`;
  }
  return `${out}${bits <= 112 ? '::' : ''}/${bits}`;
}

function expandIPv6(address: string): number[] | undefined {
  const zone = address.indexOf('%');
  const text = zone >= 0 ? address.slice(0, zone) : address;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // Embedded IPv4 (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) fills the last two groups.
    const groups = expandIPv6(`${text.slice(0, lastColon + 1)}0:0`);
    if (!groups) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    groups[6] = (a << 8) | b;
    groups[7] = (c << 8) | d;
    return groups;
  }
  const double = text.indexOf('::');
  const head = double >= 0 ? text.slice(0, double) : text;
  const rest = double >= 0 ? text.slice(double + 2) : '';
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (double < 0 && missing !== 0)) return undefined;
  const all = [...left, ...Array<string>(missing).fill('0'), ...right];
  return all.map((group) => Number.parseInt(group, 16) || 0);
}

/** How a key resolver reports a key function that failed. */
export type KeyWarning = (message: string) => void;

/**
 * Compiles a `key` option into a resolver. Every key starts with its kind
 * (`ip:`, `h:`, `r:`, `f:`) so a header value can never share a bucket with
 * an IP of the same spelling, and is bounded by {@link boundKey}.
 */
export function compileKey(option: RateLimitKey, ipv6Subnet: number | false, warn: KeyWarning): KeyResolver {
  const byIp = (ctx: Context) => `ip:${ipKey(ctx.clientAddress, ipv6Subnet)}`;
  if (option === 'ip') return byIp;
  if (option === 'route') {
    return (ctx) => boundKey(`r:${ctx.method} ${ctx.routePath}`);
  }
  if (typeof option === 'function') {
    return (ctx) => {
      let value: unknown;
      try {
        value = option(ctx);
      } catch (error) {
        warn(`rateLimit key function threw (${error instanceof Error ? error.message : String(error)}); keyed by IP`);
        return byIp(ctx);
      }
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value === '') {
        warn('rateLimit key function returned neither a non-empty string nor undefined; keyed by IP');
        return byIp(ctx);
      }
      return boundKey(`f:${value}`);
    };
  }
  if ('header' in option) {
    const name = option.header;
    return (ctx) => {
      const raw = ctx.req.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : raw;
      return value ? boundKey(`h:${value}`) : byIp(ctx);
    };
  }
  const routes = option.route.map((entry) =>
    typeof entry === 'string'
      ? { key: `r:${entry}`, match: (path: string) => path.startsWith(entry) }
      : (() => {
          // A global or sticky RegExp keeps state between test() calls: strip those flags.
          const pattern = new RegExp(entry.source, entry.flags.replace(/[gy]/g, ''));
          return { key: boundKey(`r:${pattern}`), match: (path: string) => pattern.test(path) };
        })(),
  );
  return (ctx) => {
    const path = ctx.routePath;
    for (const route of routes) if (route.match(path)) return route.key;
    return undefined;
  };
}
