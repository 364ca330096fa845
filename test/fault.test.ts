import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancerOptions } from '../src/index.js';
import { createLoopbackBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Fixture, serve, setup } from './fixture.js';
import { request } from './helpers.js';

/**
 * Fault tests: bounded load runs against in-memory backends, one of which
 * fails part-way through. Every run has a fixed request count and ends by
 * itself.
 */
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const TOTAL = 2000;
const CONCURRENCY = 20;

interface RunResult {
  ok: number;
  failed: number;
  getFailed: number;
  postFailed: number;
  statuses: Map<number, number>;
  postIds: string[];
}

/** Three loopback backends (real TCP) behind a balancer, in the shape of {@link setup}. */
async function setupLoopback(options: Omit<LoadBalancerOptions, 'backends'>): Promise<Fixture> {
  return serve(await Promise.all(['a', 'b', 'c'].map((id) => createLoopbackBackend({ id }))), options);
}

/** TOTAL requests, CONCURRENCY at a time; `b` is killed once a third have completed. Every 10th is a POST. */
async function loadRun(
  options: Omit<LoadBalancerOptions, 'backends'>,
  transport: 'memory' | 'tcp' = 'memory',
): Promise<RunResult> {
  fx = transport === 'memory' ? await setup(['a', 'b', 'c'], options) : await setupLoopback(options);
  const { front, backends } = fx;
  const victim = backends[1];
  let issued = 0;
  let completed = 0;
  let killing: Promise<void> | undefined;
  const result: RunResult = { ok: 0, failed: 0, getFailed: 0, postFailed: 0, statuses: new Map(), postIds: [] };
  async function worker(): Promise<void> {
    while (issued < TOTAL) {
      const n = issued++;
      const post = n % 10 === 0;
      const id = `req-${n}`;
      if (post) result.postIds.push(id);
      let status: number;
      try {
        const reply = await request(
          front.port,
          post ? { method: 'POST', path: `/${id}`, body: id } : { path: `/${id}` },
        );
        status = reply.status;
      } catch {
        status = 0; // connection cut mid-response
      }
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
      if (status >= 200 && status < 300) result.ok++;
      else {
        result.failed++;
        if (post) result.postFailed++;
        else result.getFailed++;
      }
      completed++;
      if (completed === Math.floor(TOTAL / 3)) killing = victim?.down();
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await killing;
  return result;
}

function sentCount(fixture: Fixture, path: string): number {
  return fixture.backends.reduce((sum, b) => sum + b.requests.filter((r) => r.url === path).length, 0);
}

function summary(name: string, r: RunResult): string {
  const statuses = [...r.statuses.entries()].map(([s, n]) => `${s}:${n}`).join(' ');
  return `${name}: ${r.ok}/${TOTAL} succeeded, ${r.failed} failed (${((r.failed / TOTAL) * 100).toFixed(1)}%) [${statuses}]`;
}

describe('a backend killed mid-run (3 backends, 2,000 requests, one killed after a third)', () => {
  it('serves every GET with breaker + retry + health checks, and sends no POST twice', async () => {
    const r = await loadRun({
      strategy: 'round-robin',
      healthCheck: { path: '/health', interval: '50ms', timeout: '40ms', unhealthyThreshold: 1, jitter: 0 },
    });
    console.log(summary('with breaker + retry + health', r));
    const fixture = fx as Fixture;
    expect(r.ok + r.failed).toBe(TOTAL);
    expect(r.getFailed).toBe(0);
    // A POST reaches at most one backend, once: one in flight on b when it died
    // fails (502), it is not sent again; refused ones never reached b and go elsewhere.
    for (const id of r.postIds) expect(sentCount(fixture, `/${id}`), id).toBeLessThanOrEqual(1);
    expect(r.postFailed).toBeLessThanOrEqual(CONCURRENCY);
  });

  it('serves every GET over real TCP too (loopback backends)', async () => {
    const r = await loadRun(
      {
        strategy: 'round-robin',
        healthCheck: { path: '/health', interval: '50ms', timeout: '40ms', unhealthyThreshold: 1, jitter: 0 },
      },
      'tcp',
    );
    console.log(summary('loopback, with breaker + retry + health', r));
    expect(r.getFailed).toBe(0);
    for (const id of r.postIds) expect(sentCount(fx as Fixture, `/${id}`), id).toBeLessThanOrEqual(1);
  });

  it('fails a measurable share without them', async () => {
    const r = await loadRun({
      strategy: 'round-robin',
      retry: false,
      circuitBreaker: false,
      outlierDetection: false,
    });
    console.log(summary('without breaker, retry or health', r));
    // Round robin keeps sending a third of the remaining two thirds to the dead backend.
    expect(r.failed / TOTAL).toBeGreaterThan(0.15);
    expect(r.failed / TOTAL).toBeLessThan(0.3);
  });
});

describe('a hanging backend', () => {
  it('gets 504 after its timeout and is ejected after consecutive timeouts', async () => {
    fx = await setup(['a', 'b'], {
      strategy: 'round-robin',
      retry: false,
      circuitBreaker: false,
      timeouts: { response: '60ms' },
      outlierDetection: { consecutiveConnectFailure: 3 },
    });
    await fx.backends[0]?.fail('hang');
    const ejected = next(fx.lb, 'backend:ejected');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await request(fx.front.port)).status);
    const [event] = await ejected;
    expect(event).toMatchObject({ backend: { id: 'a' }, reason: 'consecutive-connect-failure', ejections: 1 });
    // a answers the 1st, 3rd and 5th request with 504, then is out: b takes the rest.
    expect(statuses).toEqual([504, 200, 504, 200, 504, 200, 200, 200, 200, 200]);
    expect(fx.lb.backends()[0]?.status).toBe('ejected');
  });
});

describe('a recovered backend', () => {
  it('comes back through half-open, then ramps up with slow start', async () => {
    fx = await setup(['a', 'b'], {
      strategy: 'weighted-round-robin',
      retry: false,
      outlierDetection: false,
      slowStart: { window: '60s', minWeightPercent: 10 },
      circuitBreaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: '100ms' },
    });
    const { lb, front, backends } = fx;
    const transitions = record(lb, 'breaker:open');
    backends[0]?.setStatus(500);
    const halfOpen = next(lb, 'breaker:half-open');
    for (let i = 0; i < 8; i++) await request(front.port);
    expect(transitions.map((e) => e.backend)).toEqual(['a']);
    expect(lb.backends()[0]?.status).toBe('open');
    backends[0]?.setStatus(null);
    await halfOpen;
    const closed = next(lb, 'breaker:close');
    // The next requests include the probe to a, which now succeeds.
    for (let i = 0; i < 4; i++) expect((await request(front.port)).status).toBe(200);
    await closed;
    const a = lb.backends()[0];
    expect(a?.status).toBe('healthy');
    expect(a?.effectiveWeight).toBeGreaterThan(0);
    expect(a?.effectiveWeight).toBeLessThan(0.2);
    // While ramping, a gets much less than half of the traffic.
    const before = backends[0]?.requests.length ?? 0;
    for (let i = 0; i < 40; i++) await request(front.port);
    expect((backends[0]?.requests.length ?? 0) - before).toBeLessThanOrEqual(6);
  });
});
