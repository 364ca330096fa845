import { Buffer } from 'node:buffer';
import type { OutgoingHttpHeaders } from 'node:http';
import process from 'node:process';
import type { Middleware } from '../../core/compose.js';
import type { Context } from '../../core/context.js';
import { makeError } from '../../core/errors.js';
import type { Events } from '../../core/events.js';
import type { SharedRedis } from '../../core/redis.js';
import { FixedWindow } from './fixed-window.js';
import { compileAddressList } from './ip-list.js';
import { compileKey, type KeyResolver } from './keys.js';
import type { Clock, LimitDecision, Limiter } from './limiter.js';
import type { ResolvedLimit, ResolvedRateLimitOptions } from './options.js';
import { MemorySlidingWindow, RedisSlidingWindow } from './sliding-window.js';
import type { RedisStoreOptions } from './store-fallback.js';
import { MemoryTokenBucket, RedisTokenBucket } from './token-bucket.js';

/** `Retry-After` never exceeds this (seconds): a key blocked "for ever" still gets a sane header. */
export const MAX_RETRY_AFTER_SECONDS = 366 * 86_400;

/** What the rate-limit stage needs from the balancer. */
export interface RateLimitDeps {
  readonly events: Events;
  /** The balancer's clock: in-memory limiters read it (fake it in tests). */
  readonly now: Clock;
  /** When given, built-in limits count in Redis, shared by every instance. */
  readonly redis?: SharedRedis | undefined;
  /** Live balancer instances on this Redis (the cluster's registry), for `outageInstances: 'live'`. */
  readonly instances?: (() => number) | undefined;
}

/** The built stage and the limiters behind it. */
export interface RateLimitStage {
  /** The `rate-limit` pipeline stage. */
  readonly middleware: Middleware;
  /** Every limit, in the order requests meet them. */
  readonly limiters: readonly Limiter[];
  /** Releases the built-in limiters' memory (a user's own limiters are left to their owner). */
  close(): Promise<void>;
}

const ALGORITHM_TAG = { 'fixed-window': 'fw', 'sliding-window': 'sw', 'token-bucket': 'tb' } as const;
const WARN_INTERVAL_MS = 60_000;

/**
 * Builds one built-in limiter: in memory on the balancer's clock, or in
 * Redis under `<keyPrefix>rl:<fw|sw|tb>:<name>:` when the balancer has Redis.
 *
 * @example
 * ```ts
 * import { createLimiter } from './middleware.js';
 * const limiter = createLimiter(
 *   { kind: 'builtin', name: 'api', algorithm: 'sliding-window', points: 100, durationMs: 60_000,
 *     blockDurationMs: 0, burst: undefined, key: 'ip' },
 *   { events, now: () => performance.now() },
 *   'insurance',
 * );
 * ```
 */
export function createLimiter(
  limit: Extract<ResolvedLimit, { kind: 'builtin' }>,
  deps: RateLimitDeps,
  onRedisError: ResolvedRateLimitOptions['onRedisError'],
  maxKeys?: number,
  outageInstances: ResolvedRateLimitOptions['outageInstances'] = 1,
): Limiter {
  const settings = {
    maxKeys,
    name: limit.name,
    points: limit.points,
    durationMs: limit.durationMs,
    blockDurationMs: limit.blockDurationMs,
    burst: limit.burst,
  };
  const store: RedisStoreOptions | undefined = deps.redis
    ? {
        client: deps.redis.client,
        keyPrefix: `${deps.redis.keyPrefix}rl:${ALGORITHM_TAG[limit.algorithm]}:${limit.name}:`,
        onRedisError,
        outageInstances: outageInstances === 'live' ? () => deps.instances?.() ?? 1 : () => outageInstances,
      }
    : undefined;
  switch (limit.algorithm) {
    case 'fixed-window':
      return new FixedWindow(settings, { now: deps.now, redis: store });
    case 'sliding-window':
      return store ? new RedisSlidingWindow(settings, store, deps.now) : new MemorySlidingWindow(settings, deps.now);
    case 'token-bucket':
      return store ? new RedisTokenBucket(settings, store, deps.now) : new MemoryTokenBucket(settings, deps.now);
  }
}

interface Entry {
  readonly limiter: Limiter;
  readonly resolve: KeyResolver;
  readonly builtin: boolean;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

function rateLimitHeaders(headers: OutgoingHttpHeaders, decision: LimitDecision, policy: string | undefined): void {
  headers['ratelimit-limit'] = String(decision.limit);
  headers['ratelimit-remaining'] = String(decision.remaining);
  headers['ratelimit-reset'] = String(Math.min(MAX_RETRY_AFTER_SECONDS, Math.ceil(decision.resetMs / 1000)));
  if (policy) headers['ratelimit-policy'] = policy;
}

/** `Retry-After` in whole seconds: rounded up, at least 1, capped. */
export function retryAfterSeconds(ms: number): number {
  if (!(ms > 0)) return 1;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(ms / 1000)));
}

/**
 * The `rate-limit` stage: first in the pipeline. Allowlisted client
 * addresses pass untouched; denylisted ones get 403 `ERR_FORBIDDEN`. Every
 * other request must pass each limit in order; the first refusal ends it with
 * 429 `ERR_RATE_LIMITED`, `Retry-After` and the `RateLimit-*` headers, gives
 * back what the earlier limits took and never reaches the later ones. Passed
 * requests carry the `RateLimit-*` headers of their tightest limit (with
 * `headers: true`). Each decision is a `ratelimit` event.
 *
 * @example
 * ```ts
 * import { rateLimit } from './middleware.js';
 * import { parseOptions } from '../../core/zod.js';
 * import { rateLimitSchema } from './options.js';
 * import { buildPipeline } from '../pipeline.js';
 * declare const stages: Parameters<typeof buildPipeline>[0]; // the other stages
 * const options = parseOptions(rateLimitSchema, { points: 100, duration: '1m' });
 * if (options) {
 *   const stage = rateLimit(options, { events, now });
 *   buildPipeline({ ...stages, 'rate-limit': { middleware: stage.middleware } }, []);
 * }
 * ```
 */
export function rateLimit(options: ResolvedRateLimitOptions, deps: RateLimitDeps): RateLimitStage {
  const { events, now } = deps;
  let lastWarning = Number.NEGATIVE_INFINITY;
  const warn = (message: string) => {
    // A hot path that fails fails for every request: one warning a minute is enough.
    const t = now();
    if (t - lastWarning < WARN_INTERVAL_MS) return;
    lastWarning = t;
    process.emitWarning(`switchyard: ${message}`, 'SwitchyardWarning');
  };
  const resolvers = new Map<unknown, KeyResolver>();
  const resolverFor = (key: ResolvedLimit['key']) => {
    let resolver = resolvers.get(key);
    if (!resolver) {
      resolver = compileKey(key, options.ipv6Subnet, warn);
      resolvers.set(key, resolver);
    }
    return resolver;
  };
  const entries: Entry[] = options.limits.map((limit) => ({
    limiter:
      limit.kind === 'builtin'
        ? createLimiter(limit, deps, options.onRedisError, options.maxKeys, options.outageInstances)
        : limit.limiter,
    resolve: resolverFor(limit.key),
    builtin: limit.kind === 'builtin',
  }));
  const policy =
    options.limits
      .flatMap((limit) =>
        limit.kind === 'builtin'
          ? [`${limit.burst ?? limit.points};w=${Math.max(1, Math.round(limit.durationMs / 1000))}`]
          : [],
      )
      .join(', ') || undefined;
  const allow = compileAddressList(options.allow);
  const deny = compileAddressList(options.deny);
  const sendHeaders = options.headers;
  const forbiddenBody = Buffer.from(
    JSON.stringify(makeError('ERR_FORBIDDEN', 'this client address is not allowed').toJSON()),
  );
  const multiple = entries.length > 1;

  function refund(spent: (Entry | string)[]): void {
    for (let i = 0; i < spent.length; i += 2) {
      const limiter = (spent[i] as Entry).limiter;
      try {
        const result = limiter.refund?.(spent[i + 1] as string, 1);
        if (isPromise(result)) result.catch(() => {});
      } catch {
        // A refund is best effort.
      }
    }
  }

  function refuse(ctx: Context, decision: LimitDecision, limiter: Limiter, key: string): void {
    const retryAfter = retryAfterSeconds(decision.retryAfterMs);
    const headers: OutgoingHttpHeaders = { 'retry-after': String(retryAfter), 'cache-control': 'no-store' };
    if (decision.unavailable) {
      const error = makeError('ERR_RATE_LIMIT_UNAVAILABLE', 'the rate limit store cannot answer; try again shortly');
      ctx.reply(503, error.toJSON(), headers, 'ERR_RATE_LIMIT_UNAVAILABLE');
    } else {
      if (sendHeaders) rateLimitHeaders(headers, decision, policy);
      ctx.reply(
        429,
        {
          error: {
            code: 'ERR_RATE_LIMITED',
            message: `rate limit '${limiter.name}' exceeded; retry in ${retryAfter} s`,
            limit: limiter.name,
            retryAfter,
          },
        },
        headers,
        'ERR_RATE_LIMITED',
      );
    }
    if (events.has('ratelimit')) {
      events.emit('ratelimit', {
        allowed: false,
        limit: limiter.name,
        key,
        remaining: 0,
        retryAfterMs: decision.retryAfterMs,
      });
    }
  }

  const middleware: Middleware = async function rateLimit(ctx, next) {
    const address = ctx.clientAddress;
    if (allow?.(address)) return next();
    if (deny?.(address)) {
      ctx.reply(
        403,
        forbiddenBody,
        { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
        'ERR_FORBIDDEN',
      );
      if (events.has('ratelimit')) {
        events.emit('ratelimit', { allowed: false, limit: 'deny', key: `ip:${address}`, remaining: 0 });
      }
      return;
    }
    let chosen: LimitDecision | undefined;
    let chosenEntry: Entry | undefined;
    let chosenKey = '';
    let spent: (Entry | string)[] | undefined;
    for (const entry of entries) {
      const key = entry.resolve(ctx);
      if (key === undefined) continue;
      let decision: LimitDecision;
      try {
        const result = entry.limiter.consume(key, 1);
        decision = isPromise(result) ? await result : result;
      } catch (error) {
        warn(
          `rate limiter '${entry.limiter.name}' failed (${error instanceof Error ? error.message : String(error)}); request let through`,
        );
        continue;
      }
      if (!decision.allowed) {
        if (spent) refund(spent);
        refuse(ctx, decision, entry.limiter, key);
        return;
      }
      if (multiple) {
        spent ??= [];
        spent.push(entry, key);
      }
      if (chosen === undefined || decision.remaining < chosen.remaining) {
        chosen = decision;
        chosenEntry = entry;
        chosenKey = key;
      }
    }
    if (chosen === undefined) return next();
    if (events.has('ratelimit')) {
      events.emit('ratelimit', {
        allowed: true,
        limit: (chosenEntry as Entry).limiter.name,
        key: chosenKey,
        remaining: chosen.remaining,
      });
    }
    if (!sendHeaders) return next();
    await next();
    // The response is written after the pipeline: headers set now still go out.
    if (ctx.response) rateLimitHeaders(ctx.response.headers, chosen, policy);
  };

  return {
    middleware,
    limiters: entries.map((entry) => entry.limiter),
    async close() {
      for (const entry of entries) if (entry.builtin) await entry.limiter.close?.();
    },
  };
}
