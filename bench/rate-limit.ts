/**
 * Cost of one rate-limit decision, per algorithm, in memory and on Redis.
 * Run: npx tsx bench/rate-limit.ts  (Redis at REDIS_URL, default 127.0.0.1:6379, for the second half)
 */
import { Redis } from 'ioredis';
import {
  FixedWindow,
  type Limiter,
  MemorySlidingWindow,
  MemoryTokenBucket,
  RedisSlidingWindow,
  RedisTokenBucket,
} from '../src/index.js';

const settings = { name: 'bench', points: 1_000_000_000, durationMs: 60_000, blockDurationMs: 0 };
const KEYS = Array.from({ length: 10_000 }, (_, i) => `ip:10.0.${i >> 8}.${i & 255}`);

async function measure(label: string, limiter: Limiter, n: number): Promise<void> {
  for (let i = 0; i < 1000; i++) await limiter.consume(KEYS[i % KEYS.length] as string, 1);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const result = limiter.consume(KEYS[i % KEYS.length] as string, 1);
    if (result instanceof Promise) await result;
  }
  const us = ((performance.now() - start) * 1000) / n;
  console.log(`${label.padEnd(28)} ${us.toFixed(2).padStart(8)} µs/decision`);
}

await measure('memory fixed-window', new FixedWindow(settings), 500_000);
await measure('memory sliding-window', new MemorySlidingWindow(settings), 500_000);
await measure('memory token-bucket', new MemoryTokenBucket(settings), 500_000);

const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: true });
await client.ping();
const keyPrefix = `switchyard-bench:${process.pid}:`;
const store = { client, keyPrefix };
await measure('redis fixed-window', new FixedWindow(settings, { redis: store }), 5_000);
await measure('redis sliding-window', new RedisSlidingWindow(settings, store), 5_000);
await measure('redis token-bucket', new RedisTokenBucket(settings, store), 5_000);
let cursor = '0';
do {
  const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
  cursor = next;
  if (keys.length > 0) await client.del(...keys);
} while (cursor !== '0');
client.disconnect();
