import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { FAKE_TIMERS } from './events.js';
import { type Listening, listen, request } from './helpers.js';

// The policy for a batch whose window saw fewer than minRequests attempts (healthGate.lowTraffic).
interface Rig {
  lb: LoadBalancer;
  front: Listening;
  backends: MemoryBackend[];
}
let rig: Rig | undefined;

afterEach(async () => {
  vi.useRealTimers();
  if (!rig) return;
  await rig.front.close();
  await rig.lb.close();
  await Promise.all(rig.backends.map((b) => b.close()));
  rig = undefined;
});

const CHECKS = { interval: 1000, timeout: 500, jitter: 0, healthyThreshold: 1, unhealthyThreshold: 3 } as const;

async function build(options: Omit<LoadBalancerOptions, 'backends'> = {}) {
  vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
  const backends = ['a', 'c'].map((id) => createMemoryBackend({ id }));
  const lb = createLoadBalancer({ strategy: 'round-robin', ...options, backends: [backends[0]!.config] });
  const front = await listen(lb.handler);
  rig = { lb, front, backends };
  return { lb, front, old: backends[0]!, fresh: backends[1]! };
}

const ids = (lb: LoadBalancer) => lb.backends().map((b) => b.id);

/** Sends `n` requests spread over the next `ms` of fake time. */
async function traffic(port: number, n: number, ms: number) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    statuses.push((await request(port)).status);
    await vi.advanceTimersByTimeAsync(ms / n);
  }
  return statuses;
}

describe("rollouts at low traffic (healthGate.lowTraffic, default 'health-checks')", () => {
  it('completes a healthy rollout with zero client traffic when health checks are on', async () => {
    const { lb, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(10_000);
    const result = await done;
    expect(result).toMatchObject({ status: 'completed', rolledBack: false });
    expect(result.steps[0]).toMatchObject({ requests: 0 });
    expect(ids(lb)).toEqual(['c']);
  });

  it('rolls back a rollout with zero traffic whose new backend fails a health check during the window', async () => {
    const { lb, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    // c passes its first check (it takes traffic), then answers 503 to one check: not yet unhealthy (threshold 3).
    await vi.advanceTimersByTimeAsync(1500);
    fresh.setStatus(503);
    await vi.advanceTimersByTimeAsync(1000);
    fresh.setStatus(null);
    await vi.advanceTimersByTimeAsync(10_000);
    const result = await done;
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/insufficient traffic: 0 of 10 attempts needed, and a health check of c .*failed/);
    expect(ids(lb)).toEqual(['a']);
  });

  it('rolls back with zero traffic and no health checks: there is nothing to judge by', async () => {
    const { lb, fresh } = await build();
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(await done).toMatchObject({
      status: 'rolled-back',
      reason: 'insufficient traffic: 0 of 10 attempts needed, and no active health checks to judge by',
    });
  });

  it('completes a healthy rollout under traffic, judged by its requests', async () => {
    const { lb, front, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(1000);
    const statuses = await traffic(front.port, 40, 4000);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(result.steps[0]!.requests).toBeGreaterThanOrEqual(10);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('rolls back a failing rollout under traffic even though its health checks pass', async () => {
    const { lb, front, fresh } = await build({ healthCheck: CHECKS, retry: false });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(1000);
    // Client requests fail, /health still answers 200: only traffic shows it.
    fresh.fail('reset');
    await traffic(front.port, 40, 4000);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/error rate|is ejected|unhealthy|open/);
    expect(ids(lb)).toEqual(['a']);
  });

  it("'fail' rolls back a healthy rollout that saw no traffic", async () => {
    const { lb, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s', healthGate: { lowTraffic: 'fail' } });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await done).toMatchObject({
      status: 'rolled-back',
      reason: 'insufficient traffic: 0 of 10 attempts needed',
    });
  });

  it("'wait' extends the window until minRequests came, then completes", async () => {
    const { lb, front, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({
      backends: [fresh.config],
      interval: '2s',
      healthGate: { lowTraffic: 'wait', trafficWait: '1m', minRequests: 6 },
    });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(lb.rolloutStatus()).toMatchObject({ status: 'running', phase: 'observing' });
    await traffic(front.port, 12, 2000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(result.steps[0]!.requests).toBeGreaterThanOrEqual(6);
  });

  it("'wait' rolls back when the traffic never comes within trafficWait", async () => {
    const { lb, fresh } = await build({ healthCheck: CHECKS });
    const done = lb.rollout({
      backends: [fresh.config],
      interval: '2s',
      healthGate: { lowTraffic: 'wait', trafficWait: '10s' },
    });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(await done).toMatchObject({
      status: 'rolled-back',
      reason: 'insufficient traffic: 0 of 10 attempts needed (after waiting 10000 ms more)',
    });
  });
});
