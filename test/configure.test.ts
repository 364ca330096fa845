import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, type Strategy } from '../src/index.js';
import { type Fixture, setup } from './fixture.js';
import { request } from './helpers.js';

let fx: Fixture | undefined;

afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function servedBy(n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push((await request(fx!.front.port, { headers })).json<{ backend: string }>().backend);
  return ids;
}

function pathOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).path;
  }
  throw new Error('did not throw');
}

describe('configure({ strategy })', () => {
  it('swaps the strategy at run time; the new one knows the current backends', async () => {
    fx = await setup(['a', 'b', 'c']);
    expect(await servedBy(3)).toEqual(['a', 'b', 'c']);

    fx.lb.configure({ strategy: { name: 'consistent-hash', key: { header: 'x-user' } } });
    expect(fx.lb.config.strategy).toEqual({ name: 'consistent-hash', key: { header: 'x-user' } });
    for (const user of ['ann', 'bob', 'cat', 'dan']) {
      expect(new Set(await servedBy(4, { 'x-user': user })).size).toBe(1);
    }

    const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };
    fx.lb.configure({ strategy: first });
    expect(await servedBy(3)).toEqual(['a', 'a', 'a']);

    // Replaced whole, not merged into the previous object.
    fx.lb.configure({ strategy: { name: 'round-robin' } });
    expect((await servedBy(3)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('refuses a bad strategy with the exact path and keeps the current one', async () => {
    fx = await setup(['a', 'b']);
    expect(pathOf(() => fx!.lb.configure({ strategy: 'fastest' as never }))).toBe('strategy');
    expect(pathOf(() => fx!.lb.configure({ strategy: { name: 'nope' } as never }))).toBe('strategy.name');
    expect(pathOf(() => fx!.lb.configure({ strategy: { name: 'maglev', tableSize: 4 } }))).toBe('strategy.tableSize');
    expect(pathOf(() => fx!.lb.configure({ strategy: 'random', panicThreshold: 101 }))).toBe('panicThreshold');
    expect(fx.lb.config.strategy).toBe('round-robin');
    expect(await servedBy(2)).toEqual(['a', 'b']);
  });
});

describe('configure({ retry })', () => {
  it('turns retries off and on again at run time', async () => {
    fx = await setup(['a', 'b'], { outlierDetection: false, circuitBreaker: false });
    await fx.backends[0]!.down();
    const statuses = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await request(fx!.front.port)).status);
      return out;
    };
    expect(await statuses(4)).toEqual([200, 200, 200, 200]);
    expect(fx.lb.pipeline).toContain('retry');

    fx.lb.configure({ retry: false });
    expect(fx.lb.pipeline).not.toContain('retry');
    expect((await statuses(4)).sort()).toEqual([200, 200, 502, 502]);

    fx.lb.configure({ retry: { attempts: 3, backoffBase: 0 } });
    expect(fx.lb.config.retry).toMatchObject({ attempts: 3, backoffBase: 0, statuses: [502, 503, 504] });
    expect(await statuses(4)).toEqual([200, 200, 200, 200]);
  });

  it('keeps the retry budget and its balance unless the budget settings change', async () => {
    // Every request tries a (down) first; only a retry reaches b.
    const aFirst: Strategy = { name: 'a-first', pick: (c) => c.find((b) => b.id === 'a') ?? c[0] };
    fx = await setup(['a', 'b'], {
      strategy: aFirst,
      now: () => 1000,
      outlierDetection: false,
      circuitBreaker: false,
      retry: { backoffBase: 0, budget: { percent: 0, minRetriesPerSecond: 1, ttl: '1s' } },
    });
    await fx.backends[0]!.down();
    const statuses = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await request(fx!.front.port)).status);
      return out.sort();
    };
    // A reserve of one retry (the clock stands still, so it never refills).
    expect(await statuses(3)).toEqual([200, 502, 502]);
    fx.lb.configure({ retry: { attempts: 3 } });
    expect(await statuses(3)).toEqual([502, 502, 502]);
    fx.lb.configure({ retry: { budget: { percent: 0, minRetriesPerSecond: 2, ttl: '1s' } } });
    expect(await statuses(3)).toEqual([200, 200, 502]);
  });

  it('merges a retry patch into the current settings and refuses retry: false while hedging', async () => {
    fx = await setup(['a'], { retry: { attempts: 3, statuses: [503] } });
    fx.lb.configure({ retry: { backoffMax: '1s' } });
    expect(fx.lb.config.retry).toMatchObject({ attempts: 3, statuses: [503], backoffMax: 1000 });
    expect(pathOf(() => fx!.lb.configure({ retry: { attempts: 0 } }))).toBe('retry.attempts');
    await fx.close();

    fx = await setup(['a'], { hedge: { delay: '50ms' } });
    expect(pathOf(() => fx!.lb.configure({ retry: false, panicThreshold: 10 }))).toBe('retry');
    // Nothing of the refused patch was applied.
    expect(fx.lb.config.panicThreshold).toBe(50);
    expect(fx.lb.pipeline).toContain('retry');
  });
});

describe('configure({ rateLimit })', () => {
  it('adds, replaces and removes the rate-limit stage at run time', async () => {
    fx = await setup(['a']);
    expect(fx.lb.pipeline).not.toContain('rate-limit');
    fx.lb.configure({ rateLimit: { points: 2, duration: '1m' } });
    expect(fx.lb.pipeline[0]).toBe('rate-limit');
    const statuses = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await request(fx!.front.port)).status);
      return out;
    };
    expect(await statuses(3)).toEqual([200, 200, 429]);

    // Replaced whole: `limits` does not clash with the previous points/duration. Counting starts afresh.
    fx.lb.configure({ rateLimit: { limits: [{ name: 'one', points: 1, duration: '1m' }] } });
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    expect(reply.headers['ratelimit-limit']).toBe('1');
    expect(await statuses(1)).toEqual([429]);

    expect(pathOf(() => fx!.lb.configure({ rateLimit: { points: 0, duration: '1s' } }))).toBe('rateLimit.points');
    fx.lb.configure({ rateLimit: false });
    expect(fx.lb.pipeline).not.toContain('rate-limit');
    expect(fx.lb.config.rateLimit).toBe(false);
    expect(await statuses(3)).toEqual([200, 200, 200]);
  });
});
