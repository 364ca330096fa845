/**
 * The `cache` stage: the GET/HEAD response cache.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { cacheSchema, checkCacheOptions } from './options.js';
import { type CacheAdmin, createResponseCache } from './response-cache.js';

/** The `cache` stage (off unless `cache` is given); its handle carries the cache's `admin` (`lb.cache`). */
export const cacheStage = defineStage({
  name: 'cache',
  section: { key: 'cache', schema: cacheSchema },
  upgrade: false,
  check: (options, env) => checkCacheOptions(options, env.redis),
  create(
    options,
    deps,
  ): {
    middleware?: ReturnType<typeof createResponseCache>['middleware'];
    admin?: CacheAdmin;
    close?(): Promise<void>;
  } {
    if (!options) return {};
    const { events, now, redis } = deps;
    const cache = createResponseCache(options, { events, now, redis });
    return { middleware: cache.middleware, admin: cache.admin, close: () => cache.close() };
  },
});
