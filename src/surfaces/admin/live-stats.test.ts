import { describe, expect, it } from 'vitest';
import type { BackendSnapshot } from '../../core/backend.js';
import { Events } from '../../core/events.js';
import { LiveStats } from './live-stats.js';

function snapshot(id: string, status: BackendSnapshot['status'] = 'healthy'): BackendSnapshot {
  return {
    id,
    url: `http://${id}.invalid/`,
    weight: 1,
    effectiveWeight: 1,
    maxConnections: Number.POSITIVE_INFINITY,
    status,
    active: 0,
    requests: 0,
    failures: 0,
    latencyMs: 0,
  };
}

function setup(options: { sampleMs?: number; historyMs?: number; windowMs?: number; maxEvents?: number } = {}) {
  let now = 1_000_000_000_000;
  const events = new Events();
  const backends = [snapshot('a'), snapshot('b')];
  const live = new LiveStats(events, () => backends, { clock: () => now, ...options });
  const request = (backend: string | undefined, status: number, durationMs: number) =>
    events.emit('request', { method: 'GET', path: '/', backend, status, durationMs, attempts: 1 });
  return { live, events, backends, request, advance: (ms: number) => (now += ms), now: () => now };
}

describe('LiveStats', () => {
  it('computes req/s, error rate and percentiles over the live window, per backend and in total', () => {
    const { live, request, advance } = setup({ sampleMs: 1000, windowMs: 10_000 });
    for (let i = 1; i <= 100; i++) request('a', i === 100 ? 503 : 200, i);
    for (let i = 0; i < 10; i++) request('b', 200, 1000);
    advance(10_000);
    const stats = live.stats();
    const a = stats.backends.find((b) => b.id === 'a');
    expect(a?.rps).toBe(10);
    expect(a?.errorRate).toBe(0.01);
    // Buckets are 10 % wide: each quantile is within one bucket above the exact value.
    expect(a?.p50).toBeGreaterThanOrEqual(50);
    expect(a?.p50).toBeLessThanOrEqual(55);
    expect(a?.p99).toBeGreaterThanOrEqual(99);
    expect(a?.p99).toBeLessThanOrEqual(109);
    expect(stats.backends.find((b) => b.id === 'b')?.p50).toBeGreaterThanOrEqual(1000);
    expect(stats.totals.rps).toBe(11);
  });

  it('keeps a 15-minute ring of samples, zero-filled through quiet periods, oldest first', () => {
    const { live, request, advance } = setup({ sampleMs: 2000 });
    request('a', 200, 5);
    advance(2000);
    advance(60_000);
    request('b', 500, 5);
    advance(2000);
    const { series } = live.stats();
    expect(series.t.length).toBe(32);
    expect(series.rps[0]).toBe(0.5);
    expect(series.rps.slice(1, -1).every((v) => v === 0)).toBe(true);
    expect(series.errors.at(-1)).toBe(0.5);
    expect(series.p50[1]).toBeNull();
    expect(series.backends).toEqual({ a: expect.any(Array), b: expect.any(Array) });
    expect(series.t[1]! - series.t[0]!).toBe(2);

    advance(20 * 60_000);
    const later = live.stats().series;
    expect(later.t.length).toBe(449);
    expect(later.rps.every((v) => v === 0)).toBe(true);
  });

  it('keeps quantiles of samples that left the live window', () => {
    const { live, request, advance } = setup({ sampleMs: 1000, windowMs: 2000 });
    request('a', 200, 40);
    advance(1000);
    advance(30_000);
    const stats = live.stats();
    expect(stats.totals.p50).toBeNull();
    expect(stats.series.p50[0]).toBeGreaterThanOrEqual(40);
  });

  it('does not count a client that went away (499) as an error, but counts balancer-made 5xx', () => {
    const { live, events, advance } = setup({ sampleMs: 1000, windowMs: 10_000 });
    events.emit('request', {
      method: 'GET',
      path: '/',
      backend: 'a',
      status: 499,
      durationMs: 1,
      attempts: 1,
      error: 'ERR_CLIENT_ABORTED',
    });
    events.emit('request', {
      method: 'GET',
      path: '/',
      backend: undefined,
      status: 503,
      durationMs: 1,
      attempts: 0,
      error: 'ERR_NO_BACKEND',
    });
    advance(1000);
    expect(live.stats().totals.errorRate).toBe(0.5);
  });

  it('tracks breaker, health and ejection state from events', () => {
    const { live, events, backends } = setup();
    events.emit('breaker:open', { backend: 'a' });
    events.emit('backend:unhealthy', { backend: backends[1] as BackendSnapshot, reason: 'status 500' });
    events.emit('backend:ejected', {
      backend: backends[1] as BackendSnapshot,
      reason: 'consecutive-5xx',
      ejections: 2,
      durationMs: 30_000,
    });
    let [a, b] = live.stats().backends;
    expect(a).toMatchObject({ breaker: 'open', health: 'healthy', ejections: 0 });
    expect(b).toMatchObject({ breaker: 'closed', health: 'unhealthy', ejections: 2 });
    events.emit('breaker:half-open', { backend: 'a' });
    expect(live.stats().backends[0]?.breaker).toBe('half-open');
    events.emit('breaker:close', { backend: 'a' });
    events.emit('backend:healthy', { backend: backends[1] as BackendSnapshot, reason: 'ok' });
    [a, b] = live.stats().backends;
    expect(a?.breaker).toBe('closed');
    expect(b?.health).toBe('healthy');
  });

  it('lists recent events in order, bounded, newer than a sequence number', () => {
    const { live, events, backends } = setup({ maxEvents: 3 });
    for (let i = 0; i < 5; i++) events.emit('breaker:open', { backend: `x${i}` });
    events.emit('backend:restored', { backend: backends[0] as BackendSnapshot });
    const all = live.events();
    expect(all.events.map((e) => e.backend)).toEqual(['x3', 'x4', 'a']);
    expect(all.last).toBe(6);
    expect(live.events(5).events.map((e) => e.message)).toEqual(['restored after ejection']);
    expect(all.events[0]?.time).toBe('2001-09-09T01:46:40.000Z');
  });

  it('stops listening when the balancer closes', () => {
    const { live, events, advance } = setup({ sampleMs: 1000 });
    events.emit('closed', {});
    events.emit('request', { method: 'GET', path: '/', backend: 'a', status: 200, durationMs: 1, attempts: 1 });
    advance(1000);
    expect(live.stats().totals.rps).toBe(0);
  });
});
