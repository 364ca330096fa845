import http from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend, writeEligibility } from '../../core/backend.js';
import { ConfigError } from '../../core/errors.js';
import { Events } from '../../core/events.js';
import { BalancerMetrics, type MetricsSource, poolStats } from './metrics.js';
import { metricsSchema } from './options.js';

const agents: http.Agent[] = [];
afterEach(() => {
  for (const agent of agents.splice(0)) agent.destroy();
});

function backend(id: string): Backend {
  const agent = new http.Agent({ keepAlive: true });
  agents.push(agent);
  return new Backend({ id, url: new URL(`http://${id}.test:80`), weight: 1, maxConnections: Infinity, agent });
}

function setup(options: object = {}, ids = ['a', 'b']) {
  const pool = new Map(ids.map((id) => [id, backend(id)]));
  let clock = 1000;
  let inflight = 0;
  const source: MetricsSource = {
    backends: () => pool.values(),
    backend: (id) => pool.get(id),
    inflight: () => inflight,
    now: () => clock,
  };
  const events = new Events();
  const metrics = new BalancerMetrics(metricsSchema.parse(options), source);
  metrics.subscribe(events);
  return {
    pool,
    events,
    metrics,
    registry: metrics.registry,
    tick: (ms: number) => {
      clock += ms;
    },
    setInflight: (n: number) => {
      inflight = n;
    },
  };
}

/** A sample's value; for a histogram name its `_sum`/`_count`/`_bucket` sample. */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const base = name.replace(/_(sum|count|bucket)$/, '');
  const metric = registry.getSingleMetric(name) ?? registry.getSingleMetric(base);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  const found = data.values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? name) === name &&
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return found?.value;
}

const request = (over: object = {}) => ({
  method: 'GET',
  path: '/x',
  backend: 'a',
  status: 200,
  durationMs: 12,
  attempts: 1,
  ...over,
});

describe('BalancerMetrics', () => {
  it('counts requests by backend, bounded method and status class', async () => {
    const { events, registry } = setup();
    events.emit('request', request());
    events.emit('request', request());
    events.emit('request', request({ method: 'BREW', status: 503, backend: undefined, error: 'ERR_NO_BACKEND' }));
    expect(
      await value(registry, 'switchyard_requests_total', { backend: 'a', method: 'GET', status_class: '2xx' }),
    ).toBe(2);
    expect(
      await value(registry, 'switchyard_requests_total', { backend: 'none', method: 'OTHER', status_class: '5xx' }),
    ).toBe(1);
    expect(await value(registry, 'switchyard_request_errors_total', { code: 'ERR_NO_BACKEND' })).toBe(1);
  });

  it('observes client and upstream durations in seconds', async () => {
    const { events, registry } = setup();
    events.emit('request', request({ durationMs: 250 }));
    events.emit('upstream:response', { backend: 'b', attempt: 1, status: 200, durationMs: 40 });
    expect(await value(registry, 'switchyard_request_duration_seconds_sum', { status_class: '2xx' })).toBeCloseTo(0.25);
    expect(await value(registry, 'switchyard_upstream_duration_seconds_count', { backend: 'b' })).toBe(1);
    expect(await value(registry, 'switchyard_upstream_duration_seconds_sum', { backend: 'b' })).toBeCloseTo(0.04);
  });

  it('reads active requests, state and weight from the pool when scraped', async () => {
    const { pool, registry, setInflight } = setup();
    const a = pool.get('a') as Backend;
    a.active = 3;
    writeEligibility(pool.get('b') as Backend, { unhealthy: true });
    setInflight(7);
    expect(await value(registry, 'switchyard_backend_active_requests', { backend: 'a' })).toBe(3);
    expect(await value(registry, 'switchyard_requests_in_flight')).toBe(7);
    expect(await value(registry, 'switchyard_backend_state', { backend: 'b', state: 'unhealthy' })).toBe(1);
    expect(await value(registry, 'switchyard_backend_state', { backend: 'b', state: 'healthy' })).toBe(0);
    expect(await value(registry, 'switchyard_backend_up', { backend: 'b' })).toBe(0);
    expect(await value(registry, 'switchyard_backend_up', { backend: 'a' })).toBe(1);
    expect(await value(registry, 'switchyard_backend_weight', { backend: 'a' })).toBe(1);
    a.active = 0;
    expect(await value(registry, 'switchyard_backend_active_requests', { backend: 'a' })).toBe(0);
  });

  it('tracks breaker state from breaker events, one series per state', async () => {
    const { events, registry } = setup();
    events.emit('breaker:open', { backend: 'a' });
    expect(await value(registry, 'switchyard_backend_breaker_state', { backend: 'a', state: 'open' })).toBe(1);
    expect(await value(registry, 'switchyard_backend_breaker_state', { backend: 'a', state: 'closed' })).toBe(0);
    events.emit('breaker:half-open', { backend: 'a' });
    expect(await value(registry, 'switchyard_backend_breaker_state', { backend: 'a', state: 'half_open' })).toBe(1);
    expect(await value(registry, 'switchyard_backend_breaker_state', { backend: 'a', state: 'open' })).toBe(0);
    expect(await value(registry, 'switchyard_backend_breaker_state', { backend: 'b', state: 'closed' })).toBe(1);
    expect(await value(registry, 'switchyard_breaker_transitions_total', { backend: 'a', state: 'open' })).toBe(1);
  });

  it('counts retries, hedges, ejections, upstream errors and health transitions', async () => {
    const { events, registry, pool } = setup();
    const snapshot = (pool.get('a') as Backend).snapshot();
    events.emit('retry', { backend: 'a', attempt: 2, reason: 'reset', delayMs: 3 });
    events.emit('hedge', { backend: 'b', attempt: 2 });
    events.emit('backend:ejected', { backend: snapshot, reason: 'consecutive-5xx', ejections: 1, durationMs: 30_000 });
    events.emit('upstream:error', { backend: 'a', attempt: 1, code: 'ERR_UPSTREAM_RESET', message: 'x' });
    events.emit('backend:unhealthy', { backend: snapshot, reason: 'timeout' });
    expect(await value(registry, 'switchyard_retries_total', { backend: 'a', reason: 'reset' })).toBe(1);
    expect(await value(registry, 'switchyard_hedges_total', { backend: 'b' })).toBe(1);
    expect(await value(registry, 'switchyard_ejections_total', { backend: 'a', reason: 'consecutive-5xx' })).toBe(1);
    expect(
      await value(registry, 'switchyard_upstream_errors_total', { backend: 'a', code: 'ERR_UPSTREAM_RESET' }),
    ).toBe(1);
    expect(await value(registry, 'switchyard_health_transitions_total', { backend: 'a', state: 'unhealthy' })).toBe(1);
  });

  it('labels rate-limit decisions by limit name and decision, never by key', async () => {
    const { events, registry } = setup();
    for (let i = 0; i < 50; i++) {
      events.emit('ratelimit', { allowed: i % 5 !== 0, limit: 'api', key: `10.0.0.${i}`, remaining: 1 });
    }
    expect(await value(registry, 'switchyard_ratelimit_decisions_total', { limit: 'api', decision: 'allowed' })).toBe(
      40,
    );
    expect(await value(registry, 'switchyard_ratelimit_decisions_total', { limit: 'api', decision: 'limited' })).toBe(
      10,
    );
    expect(await registry.metrics()).not.toContain('10.0.0.');
  });

  it('caps distinct rate-limit names at 64', async () => {
    const { events, registry } = setup();
    for (let i = 0; i < 200; i++) events.emit('ratelimit', { allowed: true, limit: `l${i}`, key: 'k', remaining: 1 });
    const data = await (
      registry.getSingleMetric('switchyard_ratelimit_decisions_total') as { get(): Promise<{ values: unknown[] }> }
    ).get();
    expect(data.values.length).toBe(65);
    expect(await value(registry, 'switchyard_ratelimit_decisions_total', { limit: 'other' })).toBe(136);
  });

  it('tracks cache lookups, evictions, entries and bytes', async () => {
    const { events, registry, metrics } = setup();
    events.emit('cache', { result: 'miss', key: 'k1' });
    events.emit('cache', { result: 'stored', key: 'k1', bytes: 100 });
    events.emit('cache', { result: 'stored', key: 'k2', bytes: 50 });
    events.emit('cache', { result: 'hit', key: 'k1' });
    events.emit('cache:evict', { key: 'k1', bytes: 100, reason: 'lru' });
    expect(await value(registry, 'switchyard_cache_lookups_total', { result: 'hit' })).toBe(1);
    expect(await value(registry, 'switchyard_cache_lookups_total', { result: 'miss' })).toBe(1);
    expect(await value(registry, 'switchyard_cache_stores_total')).toBe(2);
    expect(await value(registry, 'switchyard_cache_evictions_total', { reason: 'lru' })).toBe(1);
    expect(await value(registry, 'switchyard_cache_entries')).toBe(1);
    expect(await value(registry, 'switchyard_cache_bytes')).toBe(50);
    expect(metrics.stats().cache).toEqual({ hits: 1, misses: 1, entries: 1, bytes: 50 });
  });

  it('tracks queue depth and outcomes, and concurrency limits', async () => {
    const { events, registry } = setup();
    events.emit('queue', { action: 'enqueued', depth: 3 });
    events.emit('queue', { action: 'timeout', depth: 2 });
    events.emit('limit:changed', { backend: 'a', limit: 17, previous: 20 });
    expect(await value(registry, 'switchyard_queue_depth')).toBe(2);
    expect(await value(registry, 'switchyard_queue_operations_total', { action: 'timeout' })).toBe(1);
    expect(await value(registry, 'switchyard_backend_concurrency_limit', { backend: 'a' })).toBe(17);
  });

  it('shows the rollout state as idle, then in progress, then its outcome', async () => {
    const { events, registry } = setup();
    expect(await value(registry, 'switchyard_rollout_state', { state: 'idle' })).toBe(1);
    events.emit('rollout:started', { id: 'r1', from: ['a'], to: ['c'], batches: 2 });
    expect(await value(registry, 'switchyard_rollout_state', { state: 'in_progress' })).toBe(1);
    expect(await value(registry, 'switchyard_rollout_state', { state: 'idle' })).toBe(0);
    events.emit('rollout:step', { id: 'r1', batch: 1, batches: 2, added: ['c'], removed: ['a'] });
    expect(await value(registry, 'switchyard_rollout_progress_ratio')).toBe(0.5);
    events.emit('rollout:rolled-back', { id: 'r1', reason: 'unhealthy' });
    expect(await value(registry, 'switchyard_rollout_state', { state: 'rolled_back' })).toBe(1);
    expect(await value(registry, 'switchyard_rollout_state', { state: 'in_progress' })).toBe(0);
    expect(await value(registry, 'switchyard_rollout_events_total', { event: 'started' })).toBe(1);
    expect(await value(registry, 'switchyard_rollout_events_total', { event: 'rolled_back' })).toBe(1);
  });

  it('shows the redis connection state', async () => {
    const { events, registry } = setup();
    events.emit('redis', { state: 'ready' });
    expect(await value(registry, 'switchyard_redis_state', { state: 'ready' })).toBe(1);
    events.emit('redis', { state: 'error', message: 'ECONNREFUSED' });
    expect(await value(registry, 'switchyard_redis_state', { state: 'ready' })).toBe(0);
    expect(await value(registry, 'switchyard_redis_state', { state: 'error' })).toBe(1);
  });

  it('drops the series of a backend that leaves, and labels its late events "other"', async () => {
    const { events, registry, pool } = setup();
    events.emit('request', request({ backend: 'a' }));
    events.emit('retry', { backend: 'a', attempt: 2, reason: 'reset', delayMs: 0 });
    const snapshot = (pool.get('a') as Backend).snapshot();
    pool.delete('a');
    events.emit('backend:removed', { backend: snapshot });
    const text = await registry.metrics();
    expect(text).not.toContain('backend="a"');
    events.emit('request', request({ backend: 'a' }));
    expect(await value(registry, 'switchyard_requests_total', { backend: 'other' })).toBe(1);
  });

  it('counts a backend’s requests and upstream durations on every request, and afresh once it left and came back', async () => {
    const { events, registry, pool } = setup();
    for (let i = 0; i < 3; i++) events.emit('request', request());
    events.emit('request', request({ method: 'POST', status: 503 }));
    events.emit('request', request({ method: 'PURGE' }));
    events.emit('request', request({ method: 'BREW' }));
    for (let i = 0; i < 2; i++)
      events.emit('upstream:response', { backend: 'a', attempt: 1, status: 200, durationMs: 40 });
    const count = (labels: Record<string, string>) => value(registry, 'switchyard_requests_total', labels);
    expect(await count({ backend: 'a', method: 'GET', status_class: '2xx' })).toBe(3);
    expect(await count({ backend: 'a', method: 'POST', status_class: '5xx' })).toBe(1);
    expect(await count({ backend: 'a', method: 'OTHER', status_class: '2xx' })).toBe(2);
    expect(await value(registry, 'switchyard_upstream_duration_seconds_count', { backend: 'a' })).toBe(2);
    const a = pool.get('a') as Backend;
    pool.delete('a');
    events.emit('backend:removed', { backend: a.snapshot() });
    pool.set('a', backend('a'));
    events.emit('request', request());
    events.emit('upstream:response', { backend: 'a', attempt: 1, status: 200, durationMs: 40 });
    expect(await count({ backend: 'a', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(await value(registry, 'switchyard_upstream_duration_seconds_count', { backend: 'a' })).toBe(1);
    expect(await count({ backend: 'other' })).toBeUndefined();
  });

  it('adds default labels to every series as real labels', async () => {
    const { events, registry } = setup({ defaultLabels: { instance: 'edge-1' } });
    events.emit('request', request());
    const text = await registry.metrics();
    const series = text.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(series.length).toBeGreaterThan(10);
    for (const line of series) expect(line).toContain('instance="edge-1"');
  });

  it('uses a prefix', async () => {
    const { registry } = setup({ prefix: 'edge_' });
    expect(registry.getSingleMetric('edge_requests_total')).toBeDefined();
    expect(registry.getSingleMetric('switchyard_requests_total')).toBeUndefined();
  });

  it('refuses a registry that already has its metric names, and registers nothing then', () => {
    const registry = new Registry();
    setup({ registry });
    const count = registry.getMetricsAsArray().length;
    expect(() => setup({ registry })).toThrow(ConfigError);
    expect(registry.getMetricsAsArray().length).toBe(count);
    expect(() => setup({ registry, prefix: 'second_' })).not.toThrow();
  });

  it('removes its metrics from a shared registry on close, but keeps its own', () => {
    const registry = new Registry();
    const shared = setup({ registry });
    shared.metrics.close(shared.events);
    expect(registry.getMetricsAsArray()).toHaveLength(0);
    const own = setup();
    own.metrics.close(own.events);
    expect(own.registry.getMetricsAsArray().length).toBeGreaterThan(10);
  });

  it('summarizes counts and latency percentiles per backend in stats()', () => {
    const { events, metrics, setInflight } = setup();
    setInflight(2);
    for (let i = 1; i <= 100; i++) {
      events.emit('upstream:response', { backend: 'a', attempt: 1, status: 200, durationMs: i });
      events.emit('request', request({ durationMs: i + 1 }));
    }
    events.emit('request', request({ status: 502, backend: 'b', error: 'ERR_UPSTREAM_RESET' }));
    events.emit('upstream:error', { backend: 'b', attempt: 1, code: 'ERR_UPSTREAM_RESET', message: 'x' });
    const stats = metrics.stats();
    expect(stats.windowSeconds).toBe(60);
    expect(stats.requests.total).toBe(101);
    expect(stats.requests.inFlight).toBe(2);
    expect(stats.requests.statusClasses).toMatchObject({ '2xx': 100, '5xx': 1 });
    expect(stats.requests.errors).toEqual({ ERR_UPSTREAM_RESET: 1 });
    const a = stats.backends.find((b) => b.id === 'a');
    expect(a?.latencyMs.count).toBe(100);
    expect(a?.latencyMs.p50).toBeGreaterThan(50 * 0.955);
    expect(a?.latencyMs.p50).toBeLessThan(50 * 1.045);
    expect(a?.latencyMs.p99).toBeGreaterThan(99 * 0.955);
    expect(a?.statusClasses['2xx']).toBe(100);
    expect(stats.backends.find((b) => b.id === 'b')?.errors).toEqual({ ERR_UPSTREAM_RESET: 1 });
  });

  it('lets the window expire in stats()', () => {
    const { events, metrics, tick } = setup();
    events.emit('upstream:response', { backend: 'a', attempt: 1, status: 200, durationMs: 5 });
    tick(120_000);
    expect(metrics.stats().backends.find((b) => b.id === 'a')?.latencyMs.count).toBe(0);
    expect(metrics.stats().requests.total).toBe(0);
  });

  it('stops counting once unsubscribed', async () => {
    const { events, registry, metrics } = setup();
    metrics.unsubscribe(events);
    events.emit('request', request());
    expect(await value(registry, 'switchyard_requests_total', { backend: 'a' })).toBeUndefined();
  });
});

describe('poolStats', () => {
  it('reports live pool counters and nothing recorded', () => {
    const b = backend('a');
    b.active = 4;
    const stats = poolStats({ backends: () => [b], backend: () => b, inflight: () => 1, now: () => 0 });
    expect(stats.windowSeconds).toBe(0);
    expect(stats.requests.inFlight).toBe(1);
    expect(stats.backends[0]).toMatchObject({ id: 'a', active: 4, breaker: 'closed', status: 'healthy' });
  });
});
