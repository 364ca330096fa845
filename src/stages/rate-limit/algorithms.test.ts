import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, describeRedis, testClient, uniquePrefix } from '../../../test/redis.js';
import { FixedWindow } from './fixed-window.js';
import type { Algorithm, LimitDecision, Limiter, LimiterSettings } from './limiter.js';
import { MemorySlidingWindow, RedisSlidingWindow } from './sliding-window.js';
import { MemoryTokenBucket, RedisTokenBucket } from './token-bucket.js';

/**
 * One table of cases, run against the in-memory limiters and against Redis:
 * the same inputs at the same (fake) times must give the same decisions.
 */
interface Step {
  /** Time of this request, ms after the case starts. */
  at: number;
  allowed: boolean;
  remaining?: number;
  retryAfterMs?: number;
  resetMs?: number;
  /** Sends the request this many times (same expectations). @default 1 */
  times?: number;
}

interface Case {
  name: string;
  algorithm: Algorithm;
  settings: Omit<LimiterSettings, 'name'>;
  steps: Step[];
}

const s = (points: number, durationMs: number, extra: Partial<LimiterSettings> = {}) => ({
  points,
  durationMs,
  blockDurationMs: 0,
  ...extra,
});

const CASES: Case[] = [
  {
    name: 'fixed window: admits points per window, then refuses until the window ends',
    algorithm: 'fixed-window',
    settings: s(3, 1000),
    steps: [
      { at: 0, allowed: true, remaining: 2, resetMs: 1000 },
      { at: 100, allowed: true, remaining: 1, resetMs: 900 },
      { at: 200, allowed: true, remaining: 0 },
      { at: 300, allowed: false, remaining: 0, retryAfterMs: 700 },
      { at: 900, allowed: false, retryAfterMs: 100 },
      { at: 1000, allowed: true, remaining: 2, resetMs: 1000 },
    ],
  },
  {
    name: 'fixed window: blockDuration keeps a refused key out past the window',
    algorithm: 'fixed-window',
    settings: s(2, 1000, { blockDurationMs: 3000 }),
    steps: [
      { at: 0, allowed: true, times: 2 },
      { at: 100, allowed: false, retryAfterMs: 3000 },
      { at: 1500, allowed: false, retryAfterMs: 1600 },
      { at: 3100, allowed: true, remaining: 1 },
    ],
  },
  {
    name: 'sliding window: a burst at the end of a window still weighs on the next one',
    algorithm: 'sliding-window',
    settings: s(4, 1000),
    steps: [
      { at: 999, allowed: true, remaining: 3, resetMs: 1001 },
      { at: 999, allowed: true, times: 2 },
      { at: 999, allowed: true, remaining: 0 },
      // A fixed window would admit 4 more here: the edge is not a reset.
      { at: 1000, allowed: false, retryAfterMs: 250 },
      { at: 1249, allowed: false, retryAfterMs: 1 },
      { at: 1250, allowed: true, remaining: 0 },
      { at: 1250, allowed: false, retryAfterMs: 250 },
      { at: 1500, allowed: true, remaining: 0 },
      // Two windows later nothing of the burst remains.
      { at: 3000, allowed: true, remaining: 3, resetMs: 2000 },
    ],
  },
  {
    name: 'sliding window: a full window refuses until the previous count has faded enough',
    algorithm: 'sliding-window',
    settings: s(4, 1000),
    steps: [
      { at: 0, allowed: true, times: 4 },
      { at: 0, allowed: false, retryAfterMs: 1250, resetMs: 2000 },
      { at: 1249, allowed: false, retryAfterMs: 1 },
      { at: 1250, allowed: true, remaining: 0 },
    ],
  },
  {
    name: 'sliding window: blockDuration holds a refused key',
    algorithm: 'sliding-window',
    settings: s(1, 1000, { blockDurationMs: 5000 }),
    steps: [
      { at: 0, allowed: true },
      { at: 1, allowed: false, retryAfterMs: 5000 },
      { at: 4000, allowed: false, retryAfterMs: 1001 },
      { at: 5000, allowed: false, retryAfterMs: 1 },
      { at: 5001, allowed: true },
    ],
  },
  {
    name: 'token bucket: bursts to capacity, then refills continuously',
    algorithm: 'token-bucket',
    settings: s(2, 1000, { burst: 4 }),
    steps: [
      { at: 0, allowed: true, remaining: 3, resetMs: 500 },
      { at: 0, allowed: true, times: 2 },
      { at: 0, allowed: true, remaining: 0, resetMs: 2000 },
      { at: 0, allowed: false, retryAfterMs: 500 },
      { at: 499, allowed: false, retryAfterMs: 1 },
      { at: 500, allowed: true, remaining: 0 },
      { at: 1500, allowed: true, remaining: 1 },
      { at: 1500, allowed: true, remaining: 0 },
      { at: 1500, allowed: false, retryAfterMs: 500 },
      // A long idle fills the bucket to its capacity, not beyond.
      { at: 100_000, allowed: true, remaining: 3 },
    ],
  },
  {
    name: 'token bucket: fractional refill rates are exact (3 per 10 s)',
    algorithm: 'token-bucket',
    settings: s(3, 10_000),
    steps: [
      { at: 0, allowed: true, times: 3 },
      { at: 0, allowed: false, retryAfterMs: 3334 },
      { at: 3333, allowed: false, retryAfterMs: 1 },
      { at: 3334, allowed: true, remaining: 0 },
    ],
  },
  {
    name: 'token bucket: blockDuration holds a refused key even once refilled',
    algorithm: 'token-bucket',
    settings: s(1, 1000, { blockDurationMs: 3000 }),
    steps: [
      { at: 0, allowed: true },
      { at: 10, allowed: false, retryAfterMs: 3000 },
      { at: 2000, allowed: false, retryAfterMs: 1010 },
      { at: 3010, allowed: true },
    ],
  },
];

/** Aligned to every window the cases use, so Redis and memory see the same window edges. */
const BASE = 1_699_999_200_000;

interface Harness {
  make(c: Case, name: string): Limiter;
  /** Moves the clock to `BASE + at`. */
  travel(at: number): Promise<void>;
  /** How far time-derived numbers may be from the table (ms). */
  tolerance(c: Case): number;
}

async function run(c: Case, harness: Harness, name: string): Promise<void> {
  const limiter = harness.make(c, name);
  let n = 0;
  for (const step of c.steps) {
    await harness.travel(step.at);
    for (let i = 0; i < (step.times ?? 1); i++) {
      n++;
      const decision: LimitDecision = await limiter.consume('k', 1);
      const where = `${c.name} / request ${n} at ${step.at}`;
      expect(decision.allowed, where).toBe(step.allowed);
      const tolerance = harness.tolerance(c);
      if (step.remaining !== undefined) expect(decision.remaining, where).toBe(step.remaining);
      for (const field of ['retryAfterMs', 'resetMs'] as const) {
        const want = step[field];
        if (want === undefined) continue;
        if (tolerance === 0) expect(decision[field], `${where} ${field}`).toBe(want);
        else
          expect(Math.abs(decision[field] - want), `${where} ${field}=${decision[field]}`).toBeLessThanOrEqual(
            tolerance,
          );
      }
    }
  }
  await limiter.close?.();
}

describe('limiter algorithms in memory', () => {
  let clock = BASE;
  const harness: Harness = {
    make: (c, name) => {
      const settings = { name, ...c.settings };
      const now = () => clock;
      if (c.algorithm === 'fixed-window') return new FixedWindow(settings, { now });
      if (c.algorithm === 'sliding-window') return new MemorySlidingWindow(settings, now);
      return new MemoryTokenBucket(settings, now);
    },
    travel: async (at) => {
      clock = BASE + at;
    },
    tolerance: () => 0,
  };
  for (const c of CASES) {
    it(c.name, async () => {
      await run(c, harness, 'mem');
    });
  }

  it('fixed window: refuses 1 ms before the window ends and admits at its end', async () => {
    clock = 0;
    const limiter = new FixedWindow(
      { name: 'f', points: 1, durationMs: 1000, blockDurationMs: 0 },
      { now: () => clock },
    );
    expect((await limiter.consume('k', 1)).allowed).toBe(true);
    clock = 999;
    expect(await limiter.consume('k', 1)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock = 1000;
    expect((await limiter.consume('k', 1)).allowed).toBe(true);
  });

  it('fixed window in memory: answers at once, and blocks an overdrawn key for blockDuration from its first refusal', () => {
    clock = 0;
    const limiter = new FixedWindow(
      { name: 'f', points: 2, durationMs: 1000, blockDurationMs: 5000 },
      { now: () => clock },
    );
    const first = limiter.consume('k', 1);
    expect(first).not.toBeInstanceOf(Promise);
    expect(first).toMatchObject({ allowed: true, limit: 2, remaining: 1, resetMs: 1000 });
    expect(limiter.consume('k', 1)).toMatchObject({ allowed: true, remaining: 0 });
    clock = 400;
    expect(limiter.consume('k', 1)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 5000 });
    // A later refusal does not extend the block.
    clock = 2000;
    expect(limiter.consume('k', 1)).toMatchObject({ allowed: false, retryAfterMs: 3400 });
    clock = 5400;
    expect(limiter.consume('k', 1)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('keeps keys apart', async () => {
    const limiter = new MemorySlidingWindow({ name: 'k', points: 1, durationMs: 1000, blockDurationMs: 0 }, () => 0);
    expect(limiter.consume('a', 1).allowed).toBe(true);
    expect(limiter.consume('b', 1).allowed).toBe(true);
    expect(limiter.consume('a', 1).allowed).toBe(false);
  });

  it('sweeps expired keys instead of growing without bound', () => {
    let now = 0;
    const limiter = new MemoryTokenBucket({ name: 'k', points: 1, durationMs: 1000, blockDurationMs: 0 }, () => now);
    for (let i = 0; i < 5000; i++) {
      limiter.consume(`key-${i}`, 1);
      now += 10;
    }
    // Each key is full again (expired) one second after its request: only the last ~100 are live.
    expect(limiter.size).toBeLessThan(2100);
  });

  it('refunds points to the key they were taken from', () => {
    const sliding = new MemorySlidingWindow({ name: 's', points: 1, durationMs: 1000, blockDurationMs: 0 }, () => 0);
    expect(sliding.consume('k', 1).allowed).toBe(true);
    sliding.refund('k', 1);
    expect(sliding.consume('k', 1).allowed).toBe(true);
    const bucket = new MemoryTokenBucket({ name: 't', points: 1, durationMs: 1000, blockDurationMs: 0 }, () => 0);
    expect(bucket.consume('k', 1).allowed).toBe(true);
    bucket.refund('k', 1);
    bucket.refund('k', 1);
    expect(bucket.consume('k', 1)).toMatchObject({ allowed: true, remaining: 0 });
  });
});

/** Sets each key's expiry to its virtual remaining time (ARGV, ms), deleting the ones whose time has passed. */
const SHIFT = `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = {}
for i, key in ipairs(KEYS) do
  local left = tonumber(ARGV[i])
  if left <= 0 then redis.call('del', key); at[i] = -2
  else at[i] = now + left; redis.call('pexpireat', key, at[i]) end
end
return at`;

/** The key's absolute expiry (ms) and Redis's time (s, µs). */
const READ = `local t = redis.call('time')
return {redis.call('pexpiretime', KEYS[1]), t[1], t[2]}`;

type Queue = (multi: ReturnType<Redis['multi']>) => void;

/**
 * A Redis client whose keys expire on a virtual clock. rate-limiter-flexible's
 * `RateLimiterRedis` (the fixed window) times its windows with Redis TTLs, in
 * real time, and takes no clock. Each command it sends here runs inside one
 * MULTI/EXEC between two scripts: the first sets every key it wrote to expire
 * after its virtual remaining time (or deletes it when that time has passed),
 * the last reads back the expiry of the key the command touched. Real time
 * then passes only inside one EXEC (microseconds, whatever the machine's
 * load); what is left is Redis's millisecond clock (a TTL may read 1 ms short).
 */
class VirtualClockRedis {
  /** Virtual time, ms. */
  now = 0;
  readonly #expiry = new Map<string, number>();
  readonly #real: Redis;
  readonly client: Redis;

  constructor(real: Redis) {
    this.#real = real;
    this.client = new Proxy(real, {
      get: (target, prop) => {
        if (prop === 'rlflxIncr') {
          return (args: string[]) =>
            this.#run(args[0] as string, (m) =>
              (m as unknown as { rlflxIncr(a: string[]): void }).rlflxIncr(args),
            ).then(([r]) => r);
        }
        if (prop === 'multi') return () => this.#recorder();
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** A stand-in for `client.multi()` that records the chained commands and runs them on `exec`. */
  #recorder(): unknown {
    const calls: [string, unknown[]][] = [];
    const recorder: Record<string, unknown> = new Proxy(
      {},
      {
        get: (_target, prop: string) => {
          if (prop === 'exec') {
            return () => {
              const key = calls[0]?.[1][0] as string;
              return this.#run(key, (m) => {
                for (const [name, args] of calls)
                  (m as unknown as Record<string, (...a: unknown[]) => void>)[name]?.(...args);
              });
            };
          }
          return (...args: unknown[]) => {
            calls.push([prop, args]);
            return recorder;
          };
        },
      },
    );
    return recorder;
  }

  async #run(key: string, queue: Queue): Promise<unknown[]> {
    const keys = [...this.#expiry.keys()];
    const multi = this.#real.multi();
    multi.eval(SHIFT, keys.length, ...keys, ...keys.map((k) => String((this.#expiry.get(k) as number) - this.now)));
    queue(multi);
    multi.eval(READ, 1, key);
    const results = (await multi.exec()) ?? [];
    for (const [error] of results) if (error) throw error;
    const set = results[0]?.[1] as number[];
    keys.forEach((k, i) => {
      if (set[i] === -2) this.#expiry.delete(k);
    });
    const [at, sec, usec] = (results.at(-1) ?? [])[1] as [number, string, string];
    const before = set[keys.indexOf(key)];
    if (at < 0) this.#expiry.delete(key);
    else if (at !== before)
      this.#expiry.set(key, this.now + Math.ceil(at - (Number(sec) * 1000 + Number(usec) / 1000)));
    return results.slice(1, -1).map(([, value]) => value);
  }
}

describeRedis('limiter algorithms on Redis (same table)', () => {
  let client: Redis;
  const prefix = uniquePrefix('rl-algorithms');
  let clock = BASE;

  beforeAll(async () => {
    client = testClient();
    // Not ready yet means "Redis is away": the limiters would answer from memory.
    await client.ping();
  });
  afterAll(async () => {
    await deleteKeys(client, prefix);
    client.disconnect();
  });

  /**
   * The Lua limiters take the clock as an argument. The fixed window is
   * rate-limiter-flexible's, timed by Redis TTLs: it talks to Redis through
   * a {@link VirtualClockRedis}, whose keys expire on the same fake clock.
   */
  let virtual: VirtualClockRedis;
  const harness: Harness = {
    make: (c, name) => {
      const settings = { name, ...c.settings };
      const store = { client, keyPrefix: `${prefix}${name}:`, now: () => clock };
      virtual = new VirtualClockRedis(client);
      if (c.algorithm === 'fixed-window')
        return new FixedWindow(settings, { redis: { ...store, client: virtual.client } });
      if (c.algorithm === 'sliding-window') return new RedisSlidingWindow(settings, store);
      return new RedisTokenBucket(settings, store);
    },
    travel: async (at) => {
      clock = BASE + at;
      virtual.now = at;
    },
    // Redis counts TTLs in whole milliseconds of its own clock: one may read 1 ms short.
    tolerance: (c) => (c.algorithm === 'fixed-window' ? 1 : 0),
  };
  CASES.forEach((c, i) => {
    it(c.name, async () => {
      await run(c, harness, `case${i}`);
    });
  });

  it('gives every key it writes a TTL', async () => {
    const store = { client, keyPrefix: `${prefix}ttl:`, now: () => BASE };
    const limiters = [
      new FixedWindow(
        { name: 'a', points: 1, durationMs: 1000, blockDurationMs: 0 },
        { redis: { ...store, keyPrefix: `${prefix}ttl:fw:` } },
      ),
      new RedisSlidingWindow({ name: 'b', points: 1, durationMs: 1000, blockDurationMs: 60_000 }, store),
      new RedisTokenBucket(
        { name: 'c', points: 1, durationMs: 1000, blockDurationMs: 0 },
        { ...store, keyPrefix: `${prefix}ttl:tb:` },
      ),
    ];
    for (const limiter of limiters) {
      await limiter.consume('k', 1);
      await limiter.consume('k', 1);
    }
    const [, keys] = await client.scan('0', 'MATCH', `${prefix}ttl:*`, 'COUNT', 100);
    expect(keys.length).toBe(3);
    for (const key of keys) {
      const ttl = await client.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }
  });
});
