import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, inject } from 'vitest';

/** Whether Redis answered when the run started (see test/global-setup.ts). */
export const redisAvailable: boolean = inject('redisAvailable');

/** URL of the Redis the suites use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * `describe` for suites that need a real Redis: skipped, with the notice the
 * global setup printed, when none answers (outside CI, where it is an error).
 */
export const describeRedis = describe.skipIf(!redisAvailable);

/** A key prefix unique to this test run and name, so parallel runs never share keys. */
export function uniquePrefix(name: string): string {
  return `switchyard-test:${randomUUID().slice(0, 8)}:${name}:`;
}

/** Deletes every key under `prefix` (SCAN, never KEYS). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

/** A plain client for test setup and inspection. */
export function testClient(): Redis {
  return new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
}
