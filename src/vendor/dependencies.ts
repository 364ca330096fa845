import { createRequire } from 'node:module';
import type * as IoRedis from 'ioredis';
import type OpossumBreaker from 'opossum';
import type * as PromClient from 'prom-client';
import type * as RateLimiterFlexible from 'rate-limiter-flexible';

/**
 * The dependencies of features that may be off, loaded the first time a
 * feature that needs one is built rather than when `switchyard-lb` is
 * imported: together they cost about as much to load as the rest of the
 * package. All four are CommonJS, so `require()` loads them synchronously and
 * `createLoadBalancer` stays synchronous. Each call names its package
 * literally, so bundlers still see it.
 */
const load = createRequire(import.meta.url);

function once<T>(get: () => T): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= get();
    return loaded;
  };
}

/**
 * ioredis: only with the `redis` option.
 *
 * @example
 * ```ts
 * import { ioredis } from './dependencies.js';
 * const client = new (ioredis().Redis)('redis://127.0.0.1:6379');
 * ```
 */
export const ioredis = once(() => load('ioredis') as typeof IoRedis);
/**
 * prom-client: only with `metrics` on (the default).
 *
 * @example
 * ```ts
 * import { promClient } from './dependencies.js';
 * const registry = new (promClient().Registry)();
 * ```
 */
export const promClient = once(() => load('prom-client') as typeof PromClient);
/**
 * opossum: only with `circuitBreaker` on (the default) and a backend.
 *
 * @example
 * ```ts
 * import { opossum } from './dependencies.js';
 * const Breaker = opossum();
 * ```
 */
export const opossum = once(() => load('opossum') as typeof OpossumBreaker);
/**
 * rate-limiter-flexible: only with a fixed-window `rateLimit`.
 *
 * @example
 * ```ts
 * import { rateLimiterFlexible } from './dependencies.js';
 * const { RateLimiterMemory } = rateLimiterFlexible();
 * ```
 */
export const rateLimiterFlexible = once(() => load('rate-limiter-flexible') as typeof RateLimiterFlexible);
