import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import process from 'node:process';
import type { TLSSocket } from 'node:tls';
import type { Backend } from '../../core/backend.js';
import type { Middleware } from '../../core/compose.js';
import type { Context } from '../../core/context.js';
import type { Events, SwitchyardEvents } from '../../core/events.js';
import { normalizeAddress, type TrustFn } from '../../core/net/trust-proxy.js';
import type { SharedRedis } from '../../core/redis.js';
import { type CookieAttributes, CookieSigner, findCookie, removeCookie, serializeCookie } from './cookie.js';
import type { ResolvedStickyOptions } from './options.js';
import { MemorySessionStore, RedisSessionStore, type SessionStore, sessionKey } from './session-store.js';

/** What the sticky stage needs from the balancer. */
export interface StickyDeps {
  /** Finds a backend by id (the pool). */
  readonly backend: (id: string) => Backend | undefined;
  readonly events: Events;
  /** Who may set `X-Forwarded-Proto` (for `secure: 'auto'`). */
  readonly trust: TrustFn;
  /** Session table for header and ip modes (cookie mode keeps none). */
  readonly store?: SessionStore | undefined;
  /** Wall clock in ms for cookie expiry. @default Date.now */
  readonly wallClock?: () => number;
}

type StickyResult = SwitchyardEvents['sticky']['result'];

/**
 * The session table the `sticky` option asks for: Redis when the balancer
 * has `redis` and `sticky.redis` is not `false`, else a bounded in-memory LRU.
 * Cookie mode keeps no table (the signed cookie names the backend) and gets
 * `undefined`.
 *
 * @example
 * ```ts
 * import { createSessionStore } from './sticky-session.js';
 * declare const options: Parameters<typeof createSessionStore>[0];
 * const store = createSessionStore(options, shared, () => performance.now());
 * ```
 */
export function createSessionStore(
  options: ResolvedStickyOptions,
  redis: SharedRedis | undefined,
  now: () => number,
): SessionStore | undefined {
  if (options.mode === 'cookie') return undefined;
  if (redis && options.redis !== false) return new RedisSessionStore(redis, `${options.keyPrefix}${options.mode}:`);
  return new MemorySessionStore({ maxEntries: options.maxEntries, now });
}

/** The secrets to sign cookies with: the configured ones, or one made for this process (with a warning). */
export function cookieSecrets(options: ResolvedStickyOptions): readonly string[] {
  if (options.secret !== undefined) return typeof options.secret === 'string' ? [options.secret] : options.secret;
  process.emitWarning(
    'switchyard: sticky.secret is not set; sticky cookies are signed with a key made for this process, so they do not survive a restart and other instances reject them',
    'SwitchyardWarning',
  );
  return [randomBytes(32).toString('base64url')];
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first.length === 0 ? undefined : first;
}

/** True when the client reached us over HTTPS, directly or through a trusted proxy. */
function isHttps(req: IncomingMessage, trust: TrustFn): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  const proto = firstValue(req.headers['x-forwarded-proto']);
  if (proto === undefined || !trust(normalizeAddress(req.socket.remoteAddress ?? ''), 0)) return false;
  // The first entry is the protocol the client used at the outermost proxy.
  const comma = proto.indexOf(',');
  return (comma === -1 ? proto : proto.slice(0, comma)).trim().toLowerCase() === 'https';
}

function appendSetCookie(headers: OutgoingHttpHeaders, cookie: string): void {
  const existing = headers['set-cookie'];
  if (existing === undefined) headers['set-cookie'] = [cookie];
  else if (Array.isArray(existing)) existing.push(cookie);
  else headers['set-cookie'] = [String(existing), cookie];
}

/**
 * The `sticky-session` stage: keeps a client on the backend that served it.
 * It names the session's backend in `ctx.preferred`; `select` takes it while
 * it is eligible (not removed, draining, unhealthy, ejected, breaker open, at
 * its connection limit, or already tried by a retry), else the strategy
 * chooses, and the session moves to whichever backend served the response.
 *
 * - `cookie`: a cookie signed with HMAC-SHA256 names the backend; a forged,
 *   tampered or malformed one counts as no session. The cookie is not
 *   forwarded upstream.
 * - `header`: a request header carries a session id (or, when absent, the
 *   response's same header starts one); the session table maps it to a backend.
 * - `ip`: the client address (through `trustProxy`) is the session id.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends, sticky: { mode: 'cookie', secret: process.env.LB_SECRET, ttl: '30m' } });
 * ```
 */
export function stickySession(options: ResolvedStickyOptions, deps: StickyDeps): Middleware {
  const { backend: findBackend, events, trust, store } = deps;
  const wallClock = deps.wallClock ?? Date.now;
  const { mode, ttl, cookieName, header } = options;
  const signer = mode === 'cookie' ? new CookieSigner(cookieSecrets(options)) : undefined;
  const ttlSeconds = Math.max(1, Math.round(ttl / 1000));
  const attributes = (secure: boolean): CookieAttributes => ({
    path: options.path,
    domain: options.domain,
    maxAgeSeconds: ttlSeconds,
    httpOnly: options.httpOnly,
    sameSite: options.sameSite,
    secure,
  });
  // Made once: the two forms the cookie attributes can take.
  const plain = attributes(options.secure === true);
  const secured = attributes(true);

  function emit(result: StickyResult, backend: Backend | undefined): void {
    if (events.has('sticky')) events.emit('sticky', { result, backend: backend?.id });
  }

  /** Reads our cookie and strips every copy of it from what goes upstream; returns the verdict on the first. */
  function readCookie(ctx: Context): { id: string; expiresAt: number } | false | undefined | null {
    const raw = ctx.upstreamHeaders.cookie;
    let cookieHeader = Array.isArray(raw) ? raw.join('; ') : raw;
    if (!cookieHeader) return null;
    const range = findCookie(cookieHeader, cookieName);
    if (!range) return null;
    // The backend has no use for the balancer's cookie: do not forward it (nor a repeated copy, within reason).
    let rest = removeCookie(cookieHeader, range);
    for (let i = 0; i < 8 && rest !== undefined; i++) {
      const again = findCookie(rest, cookieName);
      if (!again) break;
      cookieHeader = rest;
      rest = removeCookie(cookieHeader, again);
    }
    if (rest === undefined) delete ctx.upstreamHeaders.cookie;
    else ctx.upstreamHeaders.cookie = rest;
    return (signer as CookieSigner).verify(range.value, Math.floor(wallClock() / 1000));
  }

  const cookieStage = (): Middleware =>
    async function stickySession(ctx, next) {
      const verdict = readCookie(ctx);
      const preferred = verdict ? findBackend(verdict.id) : undefined;
      ctx.preferred = preferred;
      await next();
      const served = ctx.backend;
      if (!served) return;
      const nowSeconds = Math.floor(wallClock() / 1000);
      let result: StickyResult;
      if (verdict && served === preferred) {
        result = 'hit';
        // Re-issue only once half the session has passed: not a Set-Cookie on every response.
        if (verdict.expiresAt - nowSeconds > ttlSeconds / 2) {
          emit(result, served);
          return;
        }
      } else result = verdict ? 'fallback' : verdict === false ? 'rejected' : 'new';
      const response = ctx.response;
      if (response) {
        const secure = options.secure === 'auto' ? isHttps(ctx.req, trust) : options.secure;
        const value = (signer as CookieSigner).sign(served.id, nowSeconds + ttlSeconds);
        appendSetCookie(response.headers, serializeCookie(cookieName, value, secure ? secured : plain));
      }
      emit(result, served);
    };

  function requestKey(ctx: Context): string | undefined {
    if (mode === 'ip') {
      const ip = ctx.clientAddress;
      return ip.startsWith('::ffff:') ? normalizeAddress(ip) : ip;
    }
    return firstValue(ctx.req.headers[header]);
  }

  const tableStage = (table: SessionStore): Middleware =>
    async function stickySession(ctx, next) {
      const raw = requestKey(ctx);
      let key = raw === undefined ? undefined : sessionKey(raw);
      let id: string | undefined;
      if (key !== undefined) {
        const found = table.get(key, ttl);
        id = typeof found === 'string' || found === undefined ? found : await found;
      }
      const preferred = id === undefined ? undefined : findBackend(id);
      ctx.preferred = preferred;
      await next();
      const served = ctx.backend;
      if (!served) return;
      if (id !== undefined && served === preferred) {
        emit('hit', served);
        return;
      }
      if (key === undefined) {
        // The backend may start the session: the id it assigns comes back in the same header.
        const assigned = mode === 'header' ? ctx.response?.headers[header] : undefined;
        const value = typeof assigned === 'string' ? assigned : Array.isArray(assigned) ? assigned[0] : undefined;
        if (!value) return;
        key = sessionKey(value);
      }
      const stored = table.set(key, served.id, ttl);
      if (stored) await stored;
      emit(id === undefined ? 'new' : 'fallback', served);
    };

  if (mode === 'cookie') return cookieStage();
  if (!store) throw new Error('sticky sessions in header or ip mode need a session store');
  return tableStage(store);
}
