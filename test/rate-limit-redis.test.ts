import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { LoadBalancerOptions } from '../src/index.js';
import type { Algorithm } from '../src/stages/rate-limit/limiter.js';
import { type Fixture, setup } from './fixture.js';
import { request } from './helpers.js';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from './redis.js';

const fixtures: Fixture[] = [];
const clients: Redis[] = [];
let inspector: Redis;
const prefix = uniquePrefix('rate-limit');

async function start(options: Omit<LoadBalancerOptions, 'backends'>): Promise<Fixture> {
  const fixture = await setup(['a'], options);
  fixtures.push(fixture);
  return fixture;
}

/** A client that fails fast while disconnected, as the balancer's own does. */
function ownClient(url = REDIS_URL, extra: RedisOptions = {}): Redis {
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...extra });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

const ready = (client: Redis) =>
  client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', () => resolve()));

const statuses = async (fixture: Fixture, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request(fixture.front.port)).status);
  return out;
};

beforeAll(() => {
  inspector = testClient();
});
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((f) => f.close()));
  for (const client of clients.splice(0)) client.disconnect();
});
afterAll(async () => {
  await deleteKeys(inspector, prefix);
  inspector.disconnect();
});

const ALGORITHMS: Algorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];

describeRedis('rate limits shared through Redis', () => {
  for (const algorithm of ALGORITHMS) {
    it(`admits exactly the configured total across three instances (${algorithm})`, async () => {
      const keyPrefix = `${prefix}${algorithm}:`;
      const instances = await Promise.all(
        [1, 2, 3].map(async () => {
          const fixture = await start({
            redis: { url: REDIS_URL, keyPrefix },
            rateLimit: { points: 10, duration: '1h', algorithm },
          });
          await new Promise<void>((resolve) => fixture.lb.once('redis', () => resolve()));
          return fixture;
        }),
      );
      // 45 concurrent requests from one client, spread over the instances.
      const replies = await Promise.all(
        Array.from({ length: 45 }, (_, i) => request((instances[i % 3] as Fixture).front.port)),
      );
      const admitted = replies.filter((r) => r.status === 200).length;
      // Tolerance 0: one atomic script per request; a token bucket refills 1 token per 6 minutes.
      expect(admitted).toBe(10);
      expect(replies.filter((r) => r.status === 429).length).toBe(35);
      const [, keys] = await inspector.scan('0', 'MATCH', `${keyPrefix}*`, 'COUNT', 100);
      expect(keys).toHaveLength(1);
      const ttl = await inspector.pttl(keys[0] as string);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(2 * 3_600_000);
    });
  }

  it('falls back to in-memory insurance when its Redis client goes away, and returns to Redis when it is back', async () => {
    const client = ownClient();
    await ready(client);
    const keyPrefix = `${prefix}failover:`;
    const fixture = await start({
      redis: { client, keyPrefix },
      rateLimit: {
        limits: ALGORITHMS.map((algorithm) => ({ name: algorithm, algorithm, points: 3, duration: '1h' })),
      },
    });
    expect(await statuses(fixture, 2)).toEqual([200, 200]);
    const ended = new Promise((resolve) => client.once('end', resolve));
    client.disconnect();
    await ended;
    // Insurance counts locally, from zero: 3 more, then refused; the process and the balancer stay up.
    expect(await statuses(fixture, 4)).toEqual([200, 200, 200, 429]);
    await client.connect();
    await ready(client);
    // Back on Redis, which still holds the first two requests: one more fits.
    expect(await statuses(fixture, 2)).toEqual([200, 429]);
    const [, keys] = await inspector.scan('0', 'MATCH', `${keyPrefix}*`, 'COUNT', 100);
    expect(keys).toHaveLength(3);
  });

  for (const algorithm of ALGORITHMS) {
    it(`applies onRedisError when Redis cannot be reached (${algorithm})`, async () => {
      const nowhere = () => ownClient('redis://127.0.0.1:1', { retryStrategy: () => null });
      const rateLimit = { points: 1, duration: '1m', algorithm } as const;
      const deny = await start({ redis: { client: nowhere() }, rateLimit: { ...rateLimit, onRedisError: 'deny' } });
      const denied = await request(deny.front.port);
      expect(denied.status).toBe(503);
      expect(denied.headers['retry-after']).toBe('1');
      expect(denied.json<{ error: { code: string } }>().error.code).toBe('ERR_RATE_LIMIT_UNAVAILABLE');
      const allow = await start({ redis: { client: nowhere() }, rateLimit: { ...rateLimit, onRedisError: 'allow' } });
      expect(await statuses(allow, 3)).toEqual([200, 200, 200]);
      const insured = await start({ redis: { client: nowhere() }, rateLimit });
      expect(await statuses(insured, 2)).toEqual([200, 429]);
    });
  }
});
