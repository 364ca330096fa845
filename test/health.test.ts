import { describe, expect, it, vi } from 'vitest';
import { ConfigError, createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { createMemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Fixture, setup } from './fixture.js';
import { request, useFakeClock } from './helpers.js';

let fx: Fixture | undefined;
const extra: Array<{ close(): Promise<unknown> }> = [];

useFakeClock(async () => {
  await fx?.close();
  fx = undefined;
  for (const item of extra.splice(0)) await item.close();
});

/** Lets the checks due within `ms` run, and resolves once `count` checks of `id` have finished. */
async function checks(lb: LoadBalancer, id: string, count: number, ms: number) {
  const done = next(lb, 'health:check', (e) => e.backend === id, count);
  await vi.advanceTimersByTimeAsync(ms);
  return done;
}

async function servedBy(port: number, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await request(port)).json<{ backend: string }>().backend);
  return ids;
}

const FAST = { interval: 1000, timeout: 500, jitter: 0 } as const;

describe('active health checks', () => {
  it('takes a failing backend out after unhealthyThreshold checks and back after healthyThreshold passes', async () => {
    fx = await setup(['a', 'b'], { healthCheck: { ...FAST, unhealthyThreshold: 3, healthyThreshold: 2 } });
    const { lb } = fx;
    const down = record(lb, 'backend:unhealthy');
    const up = record(lb, 'backend:healthy');
    await checks(lb, 'a', 1, 0);
    fx.backends[0]!.setStatus(503);

    const failed = await checks(lb, 'a', 2, 2000);
    expect(failed.map((e) => [e.ok, e.status])).toEqual([
      [false, 503],
      [false, 503],
    ]);
    expect(down).toEqual([]);
    expect(lb.backends().find((b) => b.id === 'a')?.status).toBe('healthy');

    await checks(lb, 'a', 1, 1000);
    expect(down).toHaveLength(1);
    expect(down[0]?.backend).toMatchObject({ id: 'a', status: 'unhealthy' });
    expect(down[0]?.reason).toMatch(/3 consecutive failed checks.*status 503/);
    expect(await servedBy(fx.front.port, 4)).toEqual(['b', 'b', 'b', 'b']);

    fx.backends[0]!.setStatus(null);
    await checks(lb, 'a', 1, 1000);
    expect(up).toEqual([]);
    expect(await servedBy(fx.front.port, 2)).toEqual(['b', 'b']);
    await checks(lb, 'a', 1, 1000);
    expect(up).toHaveLength(1);
    expect(up[0]?.backend).toMatchObject({ id: 'a', status: 'healthy' });
    expect(up[0]?.reason).toMatch(/2 consecutive passing checks/);
    expect((await servedBy(fx.front.port, 4)).sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('fails a check that gets no answer within timeout, or a malformed one', async () => {
    fx = await setup(['a', 'b'], { healthCheck: { ...FAST, unhealthyThreshold: 1 } });
    await checks(fx.lb, 'a', 1, 0);
    await fx.backends[0]!.fail('hang');
    const [hung] = await checks(fx.lb, 'a', 1, 1500);
    expect(hung).toMatchObject({ ok: false, reason: 'no response within 500 ms', durationMs: 500 });
    await fx.backends[1]!.fail('garbage');
    const [garbage] = await checks(fx.lb, 'b', 1, 1000);
    expect(garbage).toMatchObject({ ok: false });
    expect(garbage?.reason).toMatch(/HPE_|parse/i);
    expect(fx.lb.backends().map((b) => b.status)).toEqual(['unhealthy', 'unhealthy']);
  });

  it('sends method, path (under the backend URL path), Host and extra headers as configured', async () => {
    const a = createMemoryBackend({ id: 'a' });
    extra.push(a);
    const lb = createLoadBalancer({
      backends: [{ ...a.config, url: `${a.url}/api/` }],
      healthCheck: {
        ...FAST,
        method: 'HEAD',
        path: '/ready?deep=1',
        host: 'health.internal',
        headers: { 'x-check': 'yes' },
      },
    });
    extra.push(lb);
    await checks(lb, 'a', 1, 0);
    const [seen] = a.requests;
    expect(seen).toMatchObject({ method: 'HEAD', url: '/api/ready?deep=1' });
    expect(seen?.headers).toMatchObject({
      host: 'health.internal',
      'x-check': 'yes',
      'user-agent': 'switchyard-health-check',
    });
  });

  it('passes only the expected statuses', async () => {
    fx = await setup(['a', 'b', 'c'], { healthCheck: { ...FAST, expectedStatus: [200, [204, 204]] } });
    fx.backends[1]!.setStatus(204);
    fx.backends[2]!.setStatus(203);
    const results = new Map<string, boolean>();
    fx.lb.on('health:check', (e) => results.set(e.backend, e.ok));
    await checks(fx.lb, 'c', 1, 0);
    expect(Object.fromEntries(results)).toEqual({ a: true, b: true, c: false });
  });

  it('spreads checks with jitter so backends do not align', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `b${i}`);
    fx = await setup(ids, { healthCheck: { interval: 1000, timeout: 100, jitter: 0.5 } });
    const start = Date.now();
    const times = new Map<string, number[]>();
    fx.lb.on('health:check', (e) => times.set(e.backend, [...(times.get(e.backend) ?? []), Date.now() - start]));
    await vi.advanceTimersByTimeAsync(6000);
    const firsts = ids.map((id) => times.get(id)![0]!);
    // First checks land within the first interval, not all together (the first backend of the
    // batch within jitter × interval, the others within up to the whole interval).
    expect(firsts[0]).toBeLessThan(500);
    for (const t of firsts) expect(t).toBeLessThan(1000);
    expect(new Set(firsts).size).toBeGreaterThan(4);
    const gaps = ids.flatMap((id) =>
      times
        .get(id)!
        .slice(1)
        .map((t, i) => t - times.get(id)![i]!),
    );
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(500);
      expect(gap).toBeLessThanOrEqual(1500);
    }
    expect(new Set(gaps).size).toBeGreaterThan(gaps.length / 2);
  });

  it('spreads the first checks of many backends started together over the whole interval; one added later keeps the jitter window', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `b${i}`);
    // A seeded random source (mulberry32): the spread is asserted on one known draw, not on luck.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    fx = await setup(ids, { healthCheck: { interval: 1000, timeout: 100, jitter: 0.1 }, random });
    const start = Date.now();
    const firsts = new Map<string, number>();
    fx.lb.on('health:check', (e) => {
      if (!firsts.has(e.backend)) firsts.set(e.backend, Date.now() - start);
    });
    await vi.advanceTimersByTimeAsync(1000);
    const times = [...firsts.values()];
    expect(times).toHaveLength(100);
    for (const t of times) expect(t).toBeLessThan(1000);
    // Not bunched within jitter × interval (100 ms) of the start, as a thousand checks used to be:
    // spread over the interval (at least a third land in its second half; uniform would be about half).
    expect(times.filter((t) => t >= 500).length).toBeGreaterThan(33);
    // A backend added on its own later: its first check within jitter × interval, not a whole interval.
    const alone = createMemoryBackend({ id: 'alone' });
    extra.push(alone);
    fx.lb.addBackend(alone.config);
    const added = Date.now();
    const first = next(fx.lb, 'health:check', (e) => e.backend === 'alone');
    await vi.advanceTimersByTimeAsync(100);
    await first;
    expect(Date.now() - added).toBeLessThanOrEqual(100);
  });

  it('checks an unhealthy backend every unhealthyInterval instead', async () => {
    fx = await setup(['a', 'b'], { healthCheck: { ...FAST, unhealthyInterval: 5000, unhealthyThreshold: 1 } });
    await checks(fx.lb, 'a', 1, 0);
    fx.backends[0]!.setStatus(500);
    await checks(fx.lb, 'a', 1, 1000);
    expect(fx.lb.backends()[0]?.status).toBe('unhealthy');
    const seen = record(fx.lb, 'health:check');
    await vi.advanceTimersByTimeAsync(4900);
    expect(seen.filter((e) => e.backend === 'a')).toEqual([]);
    expect(seen.filter((e) => e.backend === 'b').length).toBeGreaterThanOrEqual(4);
    await checks(fx.lb, 'a', 1, 100);
  });

  it('marks a backend unhealthy sooner when the phi-accrual detector suspects it', async () => {
    fx = await setup(['a', 'b'], {
      healthCheck: { ...FAST, unhealthyThreshold: 10, phiAccrual: { threshold: 3, acceptablePause: 0 } },
    });
    const down = record(fx.lb, 'backend:unhealthy');
    await checks(fx.lb, 'a', 6, 5000);
    fx.backends[0]!.setStatus(503);
    await checks(fx.lb, 'a', 1, 1000);
    // One missed beat is about on time; the second one is well past the rhythm.
    expect(down).toEqual([]);
    await checks(fx.lb, 'a', 1, 1000);
    expect(down).toHaveLength(1);
    expect(down[0]?.reason).toMatch(/phi \d+\.\d.*status 503/);
  });

  it('checks backends added at run time and stops checking removed ones', async () => {
    fx = await setup(['a'], { healthCheck: FAST });
    const b = createMemoryBackend({ id: 'b' });
    extra.push(b);
    fx.lb.addBackend(b.config);
    await checks(fx.lb, 'b', 2, 1000);
    await fx.lb.removeBackend('b');
    const seen = record(fx.lb, 'health:check');
    b.clearRequests();
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.filter((e) => e.backend === 'b')).toEqual([]);
    expect(b.requests).toEqual([]);
    expect(seen.filter((e) => e.backend === 'a').length).toBeGreaterThanOrEqual(4);
  });

  it('stops every check on close()', async () => {
    const a = createMemoryBackend({ id: 'a' });
    extra.push(a);
    const lb = createLoadBalancer({ backends: [a.config], healthCheck: FAST });
    await checks(lb, 'a', 1, 0);
    await lb.close();
    a.clearRequests();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.requests).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not check at all unless healthCheck is given', async () => {
    fx = await setup(['a']);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fx.backends[0]!.requests).toEqual([]);
  });
});

describe('lb.configure({ healthCheck })', () => {
  it('starts, retunes and stops checks at run time', async () => {
    fx = await setup(['a', 'b']);
    const a = fx.backends[0]!;
    fx.lb.configure({ healthCheck: { ...FAST, path: '/status' } });
    await checks(fx.lb, 'a', 1, 0);
    expect(a.requests.at(-1)?.url).toBe('/status');

    // A patch merges into the options last given: the path stays.
    fx.lb.configure({ healthCheck: { interval: 3000 } });
    expect(fx.lb.config.healthCheck).toMatchObject({ path: '/status', interval: 3000 });
    a.clearRequests();
    await checks(fx.lb, 'a', 1, 0);
    const seen = record(fx.lb, 'health:check');
    await vi.advanceTimersByTimeAsync(2900);
    expect(seen.filter((e) => e.backend === 'a')).toEqual([]);
    await checks(fx.lb, 'a', 1, 100);
    expect(a.requests.map((r) => r.url)).toEqual(['/status', '/status']);

    fx.lb.configure({ healthCheck: false });
    expect(fx.lb.config.healthCheck).toBe(false);
    a.clearRequests();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.requests).toEqual([]);
  });

  it('returns unhealthy backends to rotation when checks are turned off', async () => {
    fx = await setup(['a', 'b'], { healthCheck: { ...FAST, unhealthyThreshold: 1 } });
    fx.backends[0]!.setStatus(503);
    await checks(fx.lb, 'a', 1, 0);
    expect(fx.lb.backends()[0]?.status).toBe('unhealthy');
    const up = record(fx.lb, 'backend:healthy');
    fx.lb.configure({ healthCheck: false });
    expect(up.map((e) => [e.backend.id, e.reason])).toEqual([['a', 'health checks turned off']]);
    expect(fx.lb.backends()[0]?.status).toBe('healthy');
  });

  it('rejects a bad patch with a ConfigError naming the option, changing nothing', async () => {
    fx = await setup(['a'], { healthCheck: FAST });
    const bad: Array<[unknown, string]> = [
      [{ healthCheck: { healthyThreshold: 0 } }, 'healthCheck.healthyThreshold'],
      [{ healthCheck: { timeout: 5000 } }, 'healthCheck.timeout'],
      [{ healthCheck: { expectedStatus: [399, 200] } }, 'healthCheck.expectedStatus'],
      [
        { healthCheck: { interval: 2000 }, outlierDetection: { maxEjectionPercent: 150 } },
        'outlierDetection.maxEjectionPercent',
      ],
      [{ timeouts: { connect: 1 } }, 'timeouts'],
    ];
    for (const [patch, path] of bad) {
      const error = (() => {
        try {
          fx.lb.configure(patch as never);
        } catch (e) {
          return e;
        }
      })();
      expect(error, path).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
    }
    expect(fx.lb.config.healthCheck).toMatchObject({ interval: 1000 });
  });
});
