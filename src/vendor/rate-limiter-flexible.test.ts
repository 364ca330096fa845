import { createRequire } from 'node:module';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import {
  type MemoryStorage,
  memoryStorageOf,
  RATE_LIMITER_FLEXIBLE_VERSION,
  replaceMemoryStorage,
} from './rate-limiter-flexible.js';

const { version } = createRequire(import.meta.url)('rate-limiter-flexible/package.json') as { version: string };

describe('rate-limiter-flexible internals (pinned)', () => {
  it('is the version src/vendor/rate-limiter-flexible.ts was written against', () => {
    expect(version).toBe(RATE_LIMITER_FLEXIBLE_VERSION);
  });

  it('counts a RateLimiterMemory in its _memoryStorage, which can be replaced', async () => {
    const limiter = new RateLimiterMemory({ points: 2, duration: 1 });
    const original = memoryStorageOf(limiter);
    expect(typeof original?.incrby).toBe('function');
    const calls: string[] = [];
    const storage: MemoryStorage = {
      incrby: (key, value) => {
        calls.push(`incrby ${key} ${value}`);
        return new RateLimiterRes(0, 1000, 1, true);
      },
      set: () => new RateLimiterRes(0, 1000, 0, true),
      get: () => null,
      delete: () => false,
    };
    replaceMemoryStorage(limiter, storage);
    const res = await limiter.consume('k');
    expect(calls).toEqual([`incrby ${limiter.getKey('k')} 1`]);
    expect(res.consumedPoints).toBe(1);
  });
});
