import { describe, expect, it, vi } from 'vitest';
import type { LoadBalancerOptions } from '../src/index.js';
import { record } from './events.js';
import { type Fixture, setup } from './fixture.js';
import { request, useFakeClock } from './helpers.js';

let fx: Fixture | undefined;

useFakeClock(async () => {
  await fx?.close();
  fx = undefined;
});

/** Only outlier detection: no retries or breakers muddying who saw what. */
const ISOLATED: Omit<LoadBalancerOptions, 'backends'> = { retry: false, circuitBreaker: false };

/** Sends `n` requests one after another; returns who served each and with what status. */
async function send(port: number, n: number): Promise<Array<[string, number]>> {
  const out: Array<[string, number]> = [];
  for (let i = 0; i < n; i++) {
    const reply = await request(port);
    const body = reply.json<{ backend?: string; error?: { code: string } }>();
    out.push([body.backend ?? body.error?.code ?? '?', reply.status]);
  }
  return out;
}

/** Sends requests until `id` has been reached `times` times (round-robin keeps this short). */
async function hit(fixture: Fixture, id: string, times: number): Promise<void> {
  let reached = 0;
  for (let guard = 0; reached < times && guard < times * 20; guard++) {
    const reply = await request(fixture.front.port);
    if (reply.json<{ backend?: string }>().backend === id || reply.json<{ error?: unknown }>().error) reached++;
  }
}

function statusOf(fixture: Fixture, id: string) {
  return fixture.lb.backends().find((b) => b.id === id)?.status;
}

describe('outlier detection', () => {
  it('ejects a backend after 5 consecutive 5xx for baseEjectionTime and restores it', async () => {
    fx = await setup(['a', 'b', 'c'], ISOLATED);
    const ejected = record(fx.lb, 'backend:ejected');
    const restored = record(fx.lb, 'backend:restored');
    fx.backends[0]!.setStatus(500);
    const first = await send(fx.front.port, 12);
    expect(first.filter(([id]) => id === 'a')).toHaveLength(4);
    expect(ejected).toEqual([]);
    await send(fx.front.port, 3);
    expect(ejected).toHaveLength(1);
    expect(ejected[0]).toMatchObject({ reason: 'consecutive-5xx', ejections: 1, durationMs: 30_000 });
    expect(ejected[0]?.backend).toMatchObject({ id: 'a', status: 'ejected' });
    expect(statusOf(fx, 'a')).toBe('ejected');

    const during = await send(fx.front.port, 6);
    expect(during.map(([id]) => id).sort()).toEqual(['b', 'b', 'b', 'c', 'c', 'c']);

    await vi.advanceTimersByTimeAsync(29_999);
    expect(restored).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(restored.map((e) => e.backend.id)).toEqual(['a']);
    expect(statusOf(fx, 'a')).toBe('healthy');
    fx.backends[0]!.setStatus(null);
    expect((await send(fx.front.port, 3)).map(([id]) => id).sort()).toEqual(['a', 'b', 'c']);
  });

  it('resets the count on a good answer', async () => {
    fx = await setup(['a', 'b'], ISOLATED);
    const ejected = record(fx.lb, 'backend:ejected');
    const a = fx.backends[0]!;
    a.setStatus(503);
    await hit(fx, 'a', 4);
    a.setStatus(null);
    await hit(fx, 'a', 1);
    a.setStatus(503);
    await hit(fx, 'a', 4);
    expect(ejected).toEqual([]);
    await hit(fx, 'a', 1);
    expect(ejected.map((e) => e.backend.id)).toEqual(['a']);
  });

  it('lengthens each ejection by baseEjectionTime, up to maxEjectionTime', async () => {
    fx = await setup(['a', 'b', 'c'], {
      ...ISOLATED,
      outlierDetection: { consecutive5xx: 2, baseEjectionTime: 1000, maxEjectionTime: 2500, interval: '1h' },
    });
    const ejected = record(fx.lb, 'backend:ejected');
    const restored = record(fx.lb, 'backend:restored');
    fx.backends[0]!.setStatus(500);
    for (let round = 1; round <= 4; round++) {
      await hit(fx, 'a', 2);
      expect(ejected).toHaveLength(round);
      await vi.advanceTimersByTimeAsync(ejected.at(-1)!.durationMs);
      expect(restored).toHaveLength(round);
    }
    expect(ejected.map((e) => [e.ejections, e.durationMs])).toEqual([
      [1, 1000],
      [2, 2000],
      [3, 2500],
      [4, 2500],
    ]);
  });

  it('lets the multiplier decay by one per interval in service', async () => {
    fx = await setup(['a', 'b', 'c'], {
      ...ISOLATED,
      outlierDetection: { consecutive5xx: 2, baseEjectionTime: 1000, interval: '10s' },
    });
    const ejected = record(fx.lb, 'backend:ejected');
    fx.backends[0]!.setStatus(500);
    await hit(fx, 'a', 2);
    await vi.advanceTimersByTimeAsync(1000);
    await hit(fx, 'a', 2);
    await vi.advanceTimersByTimeAsync(2000);
    // Twenty seconds in service: two intervals, and the multiplier (2) falls to 0 before this ejection.
    await vi.advanceTimersByTimeAsync(20_000);
    await hit(fx, 'a', 2);
    expect(ejected.map((e) => e.durationMs)).toEqual([1000, 2000, 1000]);
  });

  it('ejects on consecutive connect failures, malformed answers included', async () => {
    fx = await setup(['a', 'b', 'c'], {
      ...ISOLATED,
      outlierDetection: { consecutiveConnectFailure: 3, maxEjectionPercent: 100 },
    });
    const ejected = record(fx.lb, 'backend:ejected');
    await fx.backends[0]!.fail('refuse');
    await fx.backends[1]!.fail('garbage');
    const replies = await send(fx.front.port, 9);
    expect(replies.filter(([, status]) => status === 502)).toHaveLength(6);
    expect(ejected.map((e) => [e.backend.id, e.reason])).toEqual([
      ['a', 'consecutive-connect-failure'],
      ['b', 'consecutive-connect-failure'],
    ]);
  });

  it('never ejects more than maxEjectionPercent of the backends', async () => {
    fx = await setup(['a', 'b', 'c', 'd'], {
      ...ISOLATED,
      outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 50 },
      panicThreshold: 0,
    });
    const ejected = record(fx.lb, 'backend:ejected');
    for (const backend of fx.backends.slice(0, 3)) backend.setStatus(500);
    await send(fx.front.port, 24);
    expect(ejected.map((e) => e.backend.id).sort()).toEqual(['a', 'b']);
    expect(fx.lb.backends().map((b) => b.status)).toEqual(['ejected', 'ejected', 'healthy', 'healthy']);
  });

  it('always lets one backend be ejected, even when 10% of the pool is less than one', async () => {
    fx = await setup(['a', 'b', 'c'], ISOLATED);
    const ejected = record(fx.lb, 'backend:ejected');
    fx.backends[0]!.setStatus(500);
    fx.backends[1]!.setStatus(500);
    await send(fx.front.port, 30);
    expect(ejected).toHaveLength(1);
  });

  it('ejects a second failing backend while a killed one is ejected, and restores the killed one at its first passing check', async () => {
    // The chaos run's sequence: a backend is killed (ejected, then unhealthy), another starts
    // breaking bodies off. Before: the first held the only ejection slot for 30 s, after it was
    // back up too, and with three of four out the pool panicked onto the failing one.
    fx = await setup(['a', 'b', 'c', 'd'], {
      ...ISOLATED,
      healthCheck: { interval: 1000, unhealthyThreshold: 1, healthyThreshold: 1, jitter: 0 },
    });
    const ejected = record(fx.lb, 'backend:ejected');
    const restored = record(fx.lb, 'backend:restored');
    const [a, b] = fx.backends;
    const settle = async () => {
      try {
        await request(fx!.front.port);
      } catch {
        // a body broken off mid-way: the client sees an error
      }
    };
    await vi.advanceTimersByTimeAsync(0);
    await a!.down();
    for (let i = 0; i < 20 && ejected.length === 0; i++) await settle();
    expect(ejected.map((e) => [e.backend.id, e.reason])).toEqual([['a', 'consecutive-connect-failure']]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(statusOf(fx, 'a')).toBe('unhealthy');

    await b!.fail('close-mid-body');
    for (let i = 0; i < 20 && ejected.length === 1; i++) await settle();
    expect(ejected.map((e) => [e.backend.id, e.reason])).toEqual([
      ['a', 'consecutive-connect-failure'],
      ['b', 'consecutive-connect-failure'],
    ]);

    const upAt = Date.now();
    await a!.up();
    await vi.advanceTimersByTimeAsync(1000);
    expect(restored.map((e) => e.backend.id)).toEqual(['a']);
    expect(Date.now() - upAt).toBeLessThan(30_000);
    expect(statusOf(fx, 'a')).toBe('healthy');
    // b fails its checks (a broken body is no pass): it stays out.
    expect(statusOf(fx, 'b')).not.toBe('healthy');
  });

  it('is off with outlierDetection: false', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, outlierDetection: false });
    const ejected = record(fx.lb, 'backend:ejected');
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 20);
    expect(ejected).toEqual([]);
  });

  it('can be retuned and turned off at run time, restoring ejected backends', async () => {
    fx = await setup(['a', 'b', 'c'], ISOLATED);
    const ejected = record(fx.lb, 'backend:ejected');
    const restored = record(fx.lb, 'backend:restored');
    fx.lb.configure({ outlierDetection: { consecutive5xx: 2 } });
    fx.backends[0]!.setStatus(500);
    await hit(fx, 'a', 2);
    expect(ejected.map((e) => e.backend.id)).toEqual(['a']);
    fx.lb.configure({ outlierDetection: false });
    expect(restored.map((e) => e.backend.id)).toEqual(['a']);
    expect(statusOf(fx, 'a')).toBe('healthy');
    await hit(fx, 'a', 6);
    expect(ejected).toHaveLength(1);
  });
});

describe('panic threshold', () => {
  it('spreads load over every backend when fewer than half are available', async () => {
    fx = await setup(['a', 'b', 'c', 'd'], {
      ...ISOLATED,
      outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 100 },
    });
    for (const backend of fx.backends.slice(0, 3)) backend.setStatus(500);
    await send(fx.front.port, 4);
    await send(fx.front.port, 4);
    // Two of four ejected is 50%: not yet panic, so only the healthy ones get traffic.
    expect(fx.lb.backends().filter((b) => b.status === 'ejected').length).toBeGreaterThanOrEqual(2);
    const counts = (replies: Array<[string, number]>) => {
      const out: Record<string, number> = {};
      for (const [id] of replies) out[id] = (out[id] ?? 0) + 1;
      return out;
    };
    expect(fx.lb.backends().map((b) => b.status)).toEqual(['ejected', 'ejected', 'ejected', 'healthy']);
    // One of four available (25% < 50%): panic, everyone gets a share.
    expect(counts(await send(fx.front.port, 8))).toEqual({ a: 2, b: 2, c: 2, d: 2 });

    fx.lb.configure({ panicThreshold: 0 });
    expect(counts(await send(fx.front.port, 4))).toEqual({ d: 4 });
  });

  it('does not panic while enough backends are available', async () => {
    fx = await setup(['a', 'b', 'c', 'd'], {
      ...ISOLATED,
      outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 50 },
    });
    fx.backends[0]!.setStatus(500);
    fx.backends[1]!.setStatus(500);
    await send(fx.front.port, 8);
    expect(fx.lb.backends().map((b) => b.status)).toEqual(['ejected', 'ejected', 'healthy', 'healthy']);
    const ids = (await send(fx.front.port, 6)).map(([id]) => id);
    expect(new Set(ids)).toEqual(new Set(['c', 'd']));
  });
});
