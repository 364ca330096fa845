import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream';
import type { Middleware } from '../../core/compose.js';
import type { Context, PendingResponse } from '../../core/context.js';
import type { Events, SwitchyardEvents } from '../../core/events.js';
import type { SharedRedis } from '../../core/redis.js';
import { ageOf, type CacheDirectives, freshnessLifetime, parseCacheControl } from './cache-control.js';
import { CaptureStream } from './capture.js';
import { type CachedEntry, type CacheRecord, entryBytes, MemoryCacheStore, type VaryRecord } from './memory-store.js';
import type { ResolvedCacheOptions } from './options.js';
import { RedisCacheStore, type SharedRecord } from './redis-store.js';

/** Counters of a response cache, from `lb.cache.stats()`. */
export interface CacheStats {
  /** Records held in memory (entries, and one per URL whose responses vary). */
  readonly entries: number;
  /** Bytes held in memory; never above `maxBytes`. */
  readonly bytes: number;
  /** Requests answered from the cache (coalesced ones included). */
  readonly hits: number;
  /** Lookups that found nothing fresh. */
  readonly misses: number;
  /** Requests answered with the response another request fetched. */
  readonly coalesced: number;
  /** Responses stored. */
  readonly stores: number;
  /** GET/HEAD requests the cache stayed out of (excluded path, `no-store`, `Range`, key function failed). */
  readonly bypasses: number;
  /** Records that left memory for want of room or freshness. */
  readonly evictions: number;
}

/**
 * What `lb.cache` offers when the `cache` option is on.
 *
 * @example
 * ```ts
 * await lb.cache?.purge('example.com/products/'); // every key starting with it
 * await lb.cache?.purge();                        // everything
 * lb.cache?.stats().hits;
 * ```
 */
export interface CacheAdmin {
  /**
   * Removes every entry whose key starts with `prefixOrKey` (all entries
   * without it), from memory, Redis, and other instances' memory. Keys are
   * `host` + path and query as received, e.g. `example.com/users?page=2`.
   * Resolves with how many keys were removed.
   */
  purge(prefixOrKey?: string): Promise<number>;
  /** Counters since the balancer started. */
  stats(): CacheStats;
}

/** A response cache: the `cache` stage, its admin surface, and its cleanup. */
export interface ResponseCache {
  readonly middleware: Middleware;
  readonly admin: CacheAdmin;
  close(): Promise<void>;
}

/** What the cache needs from the balancer. */
export interface CacheDeps {
  readonly events: Events;
  /** Balancer clock (monotonic, ms): freshness and ages. */
  readonly now: () => number;
  /** The shared Redis, for `cache.redis`. */
  readonly redis?: SharedRedis | undefined;
  /** Wall clock (ms) for `Expires`/`Date` arithmetic. @default Date.now */
  readonly wallClock?: () => number;
}

type CacheResult = SwitchyardEvents['cache']['result'];

const UNSAFE = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);
/** Header fields a 304 carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];
/** Key parts from headers longer than this are hashed: bounded memory per key. */
const MAX_PART = 256;

/**
 * A miss being fetched, which concurrent misses for its key wait for. The
 * promise is made only when a second request actually waits.
 */
interface Fill {
  done: Promise<void> | undefined;
  resolve: (() => void) | undefined;
  settled: boolean;
}

/** What a waiter awaits: resolves once `fill` is over. */
function fillDone(fill: Fill): Promise<void> {
  if (fill.settled) return Promise.resolve();
  fill.done ??= new Promise<void>((resolve) => {
    fill.resolve = resolve;
  });
  return fill.done;
}

function settleFill(fill: Fill): void {
  fill.settled = true;
  fill.resolve?.();
}

interface Storable {
  readonly lifetime: number;
  readonly initialAge: number;
  readonly names: readonly string[];
}

function first(value: OutgoingHttpHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

function bounded(text: string): string {
  return text.length <= MAX_PART ? text : `#${hash(text)}`;
}

/** A request header's value as a key part: repeated fields joined, list whitespace normalised. */
function headerPart(value: string | string[] | undefined): string {
  if (value === undefined) return '\u0001';
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.trim().replace(/\s*,\s*/g, ',');
}

function varyNames(value: OutgoingHttpHeaders[string]): string[] | '*' {
  const names: string[] = [];
  if (value === undefined) return names;
  const text = Array.isArray(value) ? value.join(',') : String(value);
  for (const part of text.slice(0, 1024).split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return '*';
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

function copyHeaders(headers: Readonly<Record<string, string | string[]>>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name] as string | string[];
    out[name] = typeof value === 'string' ? value : value.slice();
  }
  return out;
}

function etagMatches(header: string, etag: string): boolean {
  const weak = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  const target = weak(etag.trim());
  for (const candidate of header.slice(0, 4096).split(',')) {
    const tag = candidate.trim();
    if (tag === '*' || weak(tag) === target) return true;
  }
  return false;
}

/**
 * Builds the `cache` stage: a shared HTTP cache (RFC 9111) for GET and HEAD
 * in front of the retry bracket.
 *
 * - Key: `host` + path and query, plus `key()`'s part; the values of
 *   `keyHeaders` and of the response's `Vary` fields pick a variant. HEAD is
 *   answered from the GET entry; a HEAD miss goes upstream and is not stored.
 * - Stored: cacheable statuses without `Set-Cookie`, `no-store`, `no-cache`,
 *   `private` or `Vary: *`; with `Authorization` only when the response says
 *   `public`, `s-maxage` or `must-revalidate`. Freshness from `s-maxage`,
 *   `max-age`, `Expires`, else `ttl` (not for requests with `Cookie` or
 *   `Authorization`). The request's `no-store` keeps it out; `no-cache` and
 *   `max-age=0` skip the lookup; `Range` requests bypass.
 * - Bodies stream to the client while a copy is kept; over `maxEntryBytes`
 *   the copy is dropped. Concurrent misses for a key share one upstream
 *   request, except for a key whose last answer was not stored (hit-for-miss,
 *   for `uncacheableTtl`, marks local to this instance). A successful POST/PUT/PATCH/DELETE invalidates its URL.
 *
 * @example
 * ```ts
 * import { createResponseCache } from './response-cache.js';
 * import { buildPipeline } from '../pipeline.js';
 * declare const options: Parameters<typeof createResponseCache>[0];
 * declare const stages: Parameters<typeof buildPipeline>[0]; // the other stages
 * const cache = createResponseCache(options, { events, now: () => performance.now() });
 * buildPipeline({ ...stages, cache: { middleware: cache.middleware } }, []);
 * ```
 */
export function createResponseCache(options: ResolvedCacheOptions, deps: CacheDeps): ResponseCache {
  const { events, now } = deps;
  const wallClock = deps.wallClock ?? Date.now;
  const statuses = new Set(options.statuses);
  const keyHeaders = options.keyHeaders;
  const keyFn = options.key;
  const headerName = options.header;
  const prefixes = options.exclude.filter((e): e is string => typeof e === 'string');
  const patterns = options.exclude.filter((e): e is RegExp => e instanceof RegExp);
  const { maxEntryBytes, ttl, maxTtl, coalesceTimeout, uncacheableTtl } = options;

  const counters = { hits: 0, misses: 0, coalesced: 0, stores: 0, bypasses: 0 };
  const inflight = new Map<string, Fill>();
  // Hit-for-miss: keys whose last answer could not be stored, with the clock time the mark ends.
  // In insertion order, at most `maxEntries` of them (the oldest go first); local to this instance.
  const uncacheable = new Map<string, number>();
  // Bumped by every purge: a fill that started before it must not store what it fetched.
  let generation = 0;

  const memory = new MemoryCacheStore({
    maxEntries: options.maxEntries,
    maxBytes: options.maxBytes,
    now,
    onEvict: (key, bytes, reason) => {
      if (events.has('cache:evict')) events.emit('cache:evict', { key, bytes, reason });
    },
  });

  const shared =
    options.redis && deps.redis
      ? new RedisCacheStore(deps.redis, options.keyPrefix, maxEntryBytes, (message) => {
          generation++;
          if (message.exact !== undefined) {
            memory.delete(message.exact);
            uncacheable.delete(message.exact);
          } else {
            memory.purge(message.prefix);
            unmarkAll(message.prefix);
          }
        })
      : undefined;

  /** Remembers that `base`'s answer could not be stored: its misses stop coalescing for `uncacheableTtl`. */
  function markUncacheable(base: string): void {
    if (uncacheableTtl <= 0) return;
    const fresh = !uncacheable.has(base);
    uncacheable.set(base, now() + uncacheableTtl);
    if (fresh && uncacheable.size > options.maxEntries) {
      const oldest = uncacheable.keys().next();
      if (!oldest.done) uncacheable.delete(oldest.value);
    }
  }

  /** Whether `base` is marked uncacheable now (an expired mark is dropped). */
  function markedUncacheable(base: string): boolean {
    if (uncacheable.size === 0) return false;
    const until = uncacheable.get(base);
    if (until === undefined) return false;
    if (until > now()) return true;
    uncacheable.delete(base);
    return false;
  }

  function unmarkAll(prefix: string | undefined): void {
    if (prefix === undefined || prefix === '') uncacheable.clear();
    else for (const key of uncacheable.keys()) if (key.startsWith(prefix)) uncacheable.delete(key);
  }

  function emit(result: CacheResult, key: string, bytes?: number): void {
    if (events.has('cache')) events.emit('cache', bytes === undefined ? { result, key } : { result, key, bytes });
  }

  function excluded(ctx: Context): boolean {
    if (prefixes.length === 0 && patterns.length === 0) return false;
    const path = ctx.routePath;
    for (const prefix of prefixes) if (path.startsWith(prefix)) return true;
    for (const pattern of patterns) if (pattern.test(path)) return true;
    return false;
  }

  /** The key of a request's URL; throws when the user's key function does. */
  function baseKey(ctx: Context): string {
    // The effective authority, validated (never a '/', space or '@'), then the
    // raw target, which always starts with '/': the first '/' splits them.
    let key = ctx.authority + ctx.path;
    if (keyFn) {
      const extra = keyFn(ctx.req, ctx);
      if (typeof extra === 'string' && extra.length > 0) key += `\n${bounded(extra)}`;
    }
    return key;
  }

  function variantKey(base: string, vary: VaryRecord, headers: IncomingHttpHeaders): string {
    let parts = '';
    for (const name of vary.names) parts += `${name}:${headerPart(headers[name])}\n`;
    return `${base}\u0000${vary.id}\u0000${hash(parts)}`;
  }

  /** Brings a record read from Redis into memory, on this balancer's clock. */
  function adopt(key: string, record: SharedRecord): CacheRecord {
    const at = now();
    let local: CacheRecord;
    if (record.kind === 'vary') {
      local = {
        kind: 'vary',
        names: record.names,
        id: record.id,
        expires: at + record.ttlMs,
        bytes: entryBytes(key, {}, record.names.join().length),
      };
    } else {
      const entry = record.entry;
      local = {
        kind: 'entry',
        status: entry.status,
        statusMessage: entry.statusMessage,
        headers: entry.headers,
        body: entry.body,
        storedAt: at,
        initialAge: record.ageMs,
        expires: at + record.lifetime - record.ageMs,
        bytes: entryBytes(key, entry.headers, entry.body.length),
      };
    }
    memory.set(key, local);
    return local;
  }

  async function read(key: string): Promise<CacheRecord | undefined> {
    const local = memory.get(key);
    if (local !== undefined || !shared) return local;
    const remote = await shared.get(key);
    return remote === undefined ? undefined : adopt(key, remote);
  }

  /** `record` when it is an entry fresh enough for the request's `max-age`. */
  function usable(record: CacheRecord | undefined, maxAge: number | undefined): CachedEntry | undefined {
    if (record?.kind !== 'entry') return undefined;
    if (maxAge !== undefined && record.initialAge + now() - record.storedAt > maxAge * 1000) return undefined;
    return record;
  }

  /** The fresh entry for this request, if any, from both tiers. */
  async function lookup(ctx: Context, base: string, maxAge: number | undefined): Promise<CachedEntry | undefined> {
    let record = await read(base);
    if (record?.kind === 'vary')
      record = await read(variantKey(base, record, ctx.upstreamHeaders as IncomingHttpHeaders));
    return usable(record, maxAge);
  }

  /** {@link lookup} without a shared tier: memory answers at once, no promise per request. */
  function lookupMemory(ctx: Context, base: string, maxAge: number | undefined): CachedEntry | undefined {
    let record = memory.get(base);
    if (record?.kind === 'vary')
      record = memory.get(variantKey(base, record, ctx.upstreamHeaders as IncomingHttpHeaders));
    return usable(record, maxAge);
  }

  // Backends tend to send the same Cache-Control on every response: parse each distinct one once in a row.
  let lastCacheControl: string | undefined;
  let lastDirectives: Readonly<CacheDirectives> | undefined;
  function responseDirectives(header: string | string[] | undefined): Readonly<CacheDirectives> {
    if (typeof header !== 'string') return parseCacheControl(header);
    if (header !== lastCacheControl || lastDirectives === undefined) {
      lastDirectives = parseCacheControl(header);
      lastCacheControl = header;
    }
    return lastDirectives;
  }

  function serve(ctx: Context, entry: CachedEntry, base: string, result: 'hit' | 'coalesced'): void {
    const age = String(Math.floor((entry.initialAge + now() - entry.storedAt) / 1000));
    counters.hits++;
    if (result === 'coalesced') counters.coalesced++;
    emit(result, base, entry.body.length);
    const req = ctx.req.headers;
    const etag = entry.headers.etag;
    const lastModified = entry.headers['last-modified'];
    const inm = req['if-none-match'];
    const ims = req['if-modified-since'];
    let notModified = false;
    if (entry.status === 200) {
      if (inm !== undefined) notModified = typeof etag === 'string' && etagMatches(inm, etag);
      else if (ims !== undefined && typeof lastModified === 'string') {
        const since = Date.parse(ims);
        const modified = Date.parse(lastModified);
        notModified = !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
      }
    }
    let headers: OutgoingHttpHeaders;
    if (notModified) {
      headers = {};
      for (const name of NOT_MODIFIED_FIELDS) {
        const value = entry.headers[name];
        if (value !== undefined) headers[name] = typeof value === 'string' ? value : value.slice();
      }
    } else headers = copyHeaders(entry.headers);
    headers.age = age;
    if (headerName) headers[headerName] = 'HIT';
    ctx.response = {
      status: notModified ? 304 : entry.status,
      statusMessage: notModified ? undefined : entry.statusMessage,
      headers,
      body: notModified || ctx.method === 'HEAD' ? undefined : entry.body,
    };
  }

  /** Whether and how long `response` may be stored for this request; `undefined` when it may not. */
  function storable(ctx: Context, response: PendingResponse): Storable | undefined {
    if (!statuses.has(response.status)) return undefined;
    const headers = response.headers;
    // A shared cache must not hand one client's cookie to another.
    if (headers['set-cookie'] !== undefined) return undefined;
    const cc = responseDirectives(headers['cache-control'] as string | string[] | undefined);
    if (cc.noStore || cc.noCache || cc.private) return undefined;
    const upstream = ctx.upstreamHeaders;
    const authorized = upstream.authorization !== undefined;
    // RFC 9111 §3.5: a response to an authorized request is shared only when it says so.
    if (authorized && !cc.public && cc.sMaxAge === undefined && !cc.mustRevalidate) return undefined;
    const vary = varyNames(headers.vary);
    if (vary === '*') return undefined;
    let lifetime = freshnessLifetime(cc, first(headers.expires), first(headers.date), wallClock());
    if (lifetime === undefined) {
      // A heuristic is a guess: never guess for a response that may be personal.
      if (ttl === 0 || ((authorized || upstream.cookie !== undefined) && !cc.public)) return undefined;
      lifetime = ttl;
    }
    lifetime = Math.min(lifetime, maxTtl);
    const initialAge = ageOf(headers.age as string | string[] | undefined);
    if (lifetime - initialAge <= 0) return undefined;
    for (const name of keyHeaders) if (!vary.includes(name)) vary.push(name);
    return { lifetime, initialAge, names: vary.sort() };
  }

  /** The headers to store, copied now: outer stages (a sticky cookie, `X-Cache`) add to the live ones later. */
  function snapshot(response: PendingResponse): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = {};
    for (const name in response.headers) {
      if (name === 'age' || name === headerName) continue;
      const value = response.headers[name];
      if (value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.slice() : String(value);
    }
    return headers;
  }

  function store(
    ctx: Context,
    base: string,
    response: PendingResponse,
    headers: Record<string, string | string[]>,
    info: Storable,
    body: Buffer,
  ): boolean {
    const at = now();
    const fresh = info.lifetime - info.initialAge;
    let key = base;
    let vary: VaryRecord | undefined;
    if (info.names.length > 0) {
      const existing = memory.peek(base);
      const same =
        existing?.kind === 'vary' &&
        existing.expires > at &&
        existing.names.length === info.names.length &&
        existing.names.every((name, i) => name === info.names[i]);
      vary = {
        kind: 'vary',
        names: info.names,
        id: same ? existing.id : randomBytes(6).toString('base64url'),
        expires: Math.max(same ? existing.expires : 0, at + fresh),
        bytes: entryBytes(base, {}, info.names.join().length),
      };
      memory.set(base, vary);
      key = variantKey(base, vary, ctx.upstreamHeaders as IncomingHttpHeaders);
    }
    const entry: CachedEntry = {
      kind: 'entry',
      status: response.status,
      statusMessage: response.statusMessage,
      headers,
      body,
      storedAt: at,
      initialAge: info.initialAge,
      expires: at + fresh,
      bytes: entryBytes(key, headers, body.length),
    };
    if (!memory.set(key, entry)) return false;
    counters.stores++;
    uncacheable.delete(base);
    emit('stored', base, body.length);
    if (shared) {
      if (vary) void shared.set(base, vary, vary.expires - at);
      void shared.set(key, entry, fresh);
    }
    return true;
  }

  /** Keeps a copy of the response body as it streams, storing it once whole; runs `done` in every case. */
  function capture(ctx: Context, base: string, response: PendingResponse, info: Storable, done: () => void): void {
    const started = generation;
    const headers = snapshot(response);
    const { status, statusMessage } = response;
    const finish = (body: Buffer | undefined) => {
      if (started === generation) {
        const stored =
          body !== undefined &&
          body.length <= maxEntryBytes &&
          store(ctx, base, { status, statusMessage, headers, body: undefined }, headers, info, body);
        // Too big (or the body failed): the next misses need not wait for this key either.
        if (!stored) markUncacheable(base);
      }
      done();
    };
    const body = response.body;
    if (body === undefined || Buffer.isBuffer(body)) {
      finish(body ?? Buffer.alloc(0));
      return;
    }
    const length = Number(first(response.headers['content-length']));
    if (length > maxEntryBytes) {
      // Announced too big: stream it untouched.
      markUncacheable(base);
      done();
      return;
    }
    const tee = new CaptureStream(maxEntryBytes, finish);
    pipeline(body, tee, () => {});
    response.body = tee;
  }

  function mark(ctx: Context, value: 'MISS' | 'BYPASS'): void {
    if (headerName && ctx.response) ctx.response.headers[headerName] = value;
  }

  async function invalidate(ctx: Context): Promise<void> {
    const status = ctx.response?.status ?? 500;
    if (status >= 400) return;
    let base: string;
    try {
      base = baseKey(ctx);
    } catch {
      return;
    }
    memory.delete(base);
    uncacheable.delete(base);
    if (shared) await shared.delete(base);
  }

  async function bypass(ctx: Context, next: () => Promise<void>, key: string): Promise<void> {
    counters.bypasses++;
    emit('bypass', key);
    await next();
    mark(ctx, 'BYPASS');
  }

  function waitFor(fill: Fill): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, coalesceTimeout);
    });
    return Promise.race([fillDone(fill), timeout]).finally(() => clearTimeout(timer));
  }

  const middleware: Middleware = async function cache(ctx, next) {
    const method = ctx.method;
    if (method !== 'GET' && method !== 'HEAD') {
      await next();
      // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URL.
      if (UNSAFE.has(method)) await invalidate(ctx);
      return;
    }
    const req = ctx.req.headers;
    let base: string;
    try {
      base = baseKey(ctx);
    } catch {
      // A failing key function must not pick someone else's entry: stay out.
      return bypass(ctx, next, '');
    }
    if (req.range !== undefined || excluded(ctx)) return bypass(ctx, next, base);
    const cc = req['cache-control'];
    const directives = cc === undefined ? undefined : parseCacheControl(cc);
    if (directives?.noStore) return bypass(ctx, next, base);
    const revalidate =
      directives === undefined
        ? req.pragma?.includes('no-cache') === true
        : directives.noCache || directives.maxAge === 0;

    let fill: Fill | undefined;
    if (!revalidate) {
      const entry = shared ? await lookup(ctx, base, directives?.maxAge) : lookupMemory(ctx, base, directives?.maxAge);
      if (entry) return serve(ctx, entry, base, 'hit');
      // Hit-for-miss: a key whose last answer could not be stored goes upstream at once, no waiting in line.
      const coalesce = coalesceTimeout > 0 && !markedUncacheable(base);
      const leader = coalesce ? inflight.get(base) : undefined;
      if (leader) {
        await waitFor(leader);
        const again = await lookup(ctx, base, directives?.maxAge);
        if (again) return serve(ctx, again, base, 'coalesced');
      } else if (coalesce && method === 'GET') {
        fill = { done: undefined, resolve: undefined, settled: false };
        inflight.set(base, fill);
      }
    }
    counters.misses++;
    emit('miss', base);
    let released = false;
    const release = () => {
      if (released || !fill) return;
      released = true;
      if (inflight.get(base) === fill) inflight.delete(base);
      settleFill(fill);
    };
    try {
      await next();
    } catch (error) {
      release();
      throw error;
    }
    const response = ctx.response;
    const info = response && method === 'GET' ? storable(ctx, response) : undefined;
    if (response && info) capture(ctx, base, response, info, release);
    else {
      // The backend's answer says the key is not stored; a balancer-made error (ctx.code) says nothing of it.
      if (response && method === 'GET' && ctx.code === undefined) markUncacheable(base);
      release();
    }
    mark(ctx, 'MISS');
  };

  const admin: CacheAdmin = {
    async purge(prefixOrKey?: string): Promise<number> {
      generation++;
      unmarkAll(prefixOrKey);
      const removed = new Set(memory.purge(prefixOrKey));
      if (shared) for (const key of await shared.purge(prefixOrKey)) removed.add(key);
      return removed.size;
    },
    stats: () => ({
      entries: memory.size,
      bytes: memory.bytes,
      hits: counters.hits,
      misses: counters.misses,
      coalesced: counters.coalesced,
      stores: counters.stores,
      bypasses: counters.bypasses,
      evictions: memory.evictions,
    }),
  };

  return {
    middleware,
    admin,
    async close() {
      for (const fill of inflight.values()) settleFill(fill);
      inflight.clear();
      uncacheable.clear();
      memory.clear();
      await shared?.close();
    },
  };
}
