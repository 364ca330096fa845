import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, type LoadBalancer, type LoadBalancerOptions, SwitchyardError } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { FAKE_TIMERS, next, record } from './events.js';
import { type Listening, listen, request, until } from './helpers.js';

interface Rig {
  lb: LoadBalancer;
  front: Listening;
  old: MemoryBackend[];
  fresh: MemoryBackend[];
}

let rig: Rig | undefined;

afterEach(async () => {
  vi.useRealTimers();
  if (!rig) return;
  await rig.front.close();
  await rig.lb.close();
  await Promise.all([...rig.old, ...rig.fresh].map((b) => b.close()));
  rig = undefined;
});

async function build(oldIds: string[], freshIds: string[], options: Omit<LoadBalancerOptions, 'backends'> = {}) {
  const { createLoadBalancer } = await import('../src/index.js');
  const old = oldIds.map((id) => createMemoryBackend({ id }));
  const fresh = freshIds.map((id) => createMemoryBackend({ id }));
  const lb = createLoadBalancer({ strategy: 'round-robin', ...options, backends: old.map((b) => b.config) });
  const front = await listen(lb.handler);
  rig = { lb, front, old, fresh };
  return rig;
}

const ids = (lb: LoadBalancer) => lb.backends().map((b) => b.id);

/**
 * `concurrency` clients sending GETs back to back until `stop()`; counts
 * what they got. Each client has one request in flight at a time.
 */
function load(port: number, concurrency: number) {
  let running = true;
  const statuses: number[] = [];
  const errors: unknown[] = [];
  const servedBy = new Map<string, number>();
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const reply = await request(port);
        statuses.push(reply.status);
        if (reply.status === 200) {
          const id = reply.json<{ backend: string }>().backend;
          servedBy.set(id, (servedBy.get(id) ?? 0) + 1);
        }
      } catch (error) {
        errors.push(error);
      }
    }
  });
  return {
    statuses,
    errors,
    servedBy,
    failed: () => statuses.filter((s) => s < 200 || s > 299).length + errors.length,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

describe('rollout under load', () => {
  it('completes a rollout to a healthy set with zero failed requests', async () => {
    // Fake timers drive the gate's windows; the load runs on real sockets throughout.
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, front, fresh } = await build(['a', 'b'], ['c', 'd']);
    const started = record(lb, 'rollout:started');
    const steps = record(lb, 'rollout:step');
    const traffic = load(front.port, 8);
    await until(() => traffic.statuses.length >= 20);
    const done = lb.rollout({
      backends: fresh.map((b) => b.config),
      batchSize: 1,
      interval: '10s',
      healthGate: { maxErrorRate: 0, minRequests: 5 },
    });
    for (const [batch, id] of [
      [1, 'c'],
      [2, 'd'],
    ] as const) {
      await until(() => lb.rolloutStatus()?.batch === batch && lb.rolloutStatus()?.phase === 'observing');
      await until(() => (traffic.servedBy.get(id) ?? 0) >= 20);
      await vi.advanceTimersByTimeAsync(10_000);
    }
    const result = await done;
    const afterwards = traffic.statuses.length;
    await until(() => traffic.statuses.length >= afterwards + 20);
    await traffic.stop();

    expect(result).toMatchObject({ status: 'completed', rolledBack: false });
    expect(result.steps.map((s) => [s.added, s.removed])).toEqual([
      [['c'], ['a']],
      [['d'], ['b']],
    ]);
    for (const step of result.steps) {
      expect(step.requests).toBeGreaterThanOrEqual(5);
      expect(step.failures).toBe(0);
    }
    expect(started).toHaveLength(1);
    expect(steps.map((s) => s.batch)).toEqual([1, 2]);
    expect(ids(lb)).toEqual(['c', 'd']);
    expect(traffic.failed()).toBe(0);
    expect(traffic.servedBy.get('c')).toBeGreaterThan(0);
    expect(traffic.servedBy.get('d')).toBeGreaterThan(0);
    expect(traffic.statuses.length).toBeGreaterThan(100);
  });

  it('rolls a failing set back with at most minRequests + concurrency failed requests', async () => {
    const { lb, front, fresh } = await build(['a', 'b'], ['c', 'd']);
    for (const b of fresh) b.setStatus(500);
    const rolledBack = record(lb, 'rollout:rolled-back');
    const concurrency = 6;
    const minRequests = 5;
    const traffic = load(front.port, concurrency);
    await until(() => traffic.statuses.length >= 20);
    const result = await lb.rollout({
      backends: fresh.map((b) => b.config),
      batchSize: 1,
      interval: '30s',
      healthGate: { maxErrorRate: 0.05, minRequests },
    });
    const afterwards = traffic.statuses.length;
    await until(() => traffic.statuses.length >= afterwards + 20);
    await traffic.stop();

    expect(result.status).toBe('rolled-back');
    expect(result.rolledBack).toBe(true);
    expect(result.steps).toEqual([]);
    // Tripped by the error rate, or by outlier detection ejecting c after 5 straight 5xx.
    expect(result.reason).toMatch(/error rate|ejected/);
    expect(rolledBack.map((e) => e.id)).toEqual([result.id]);
    expect(ids(lb)).toEqual(['a', 'b']);
    // Only the first batch (c) ever took traffic. Every failed request reached c before the gate
    // tripped, which happens by the time c finished minRequests attempts, or was one of the at most
    // `concurrency` requests in flight then.
    expect(traffic.servedBy.has('d')).toBe(false);
    expect(traffic.failed()).toBeGreaterThan(0);
    expect(traffic.failed()).toBeLessThanOrEqual(minRequests + concurrency);
    expect(traffic.errors).toEqual([]);
  });
});

describe('rollout control', () => {
  it('reports progress with events in order and restores the old set on rollback()', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, front, fresh } = await build(['a', 'b'], ['c', 'd'], { slowStart: { window: '10s' } });
    const seen: string[] = [];
    for (const name of ['rollout:started', 'rollout:step', 'rollout:completed', 'rollout:rolled-back'] as const) {
      lb.on(name, () => seen.push(name));
    }
    lb.on('backend:added', ({ backend }) => seen.push(`added ${backend.id}`));
    lb.on('backend:removed', ({ backend }) => seen.push(`removed ${backend.id}`));
    const warming: number[] = [];
    lb.on('backend:added', ({ backend }) => warming.push(backend.effectiveWeight));
    // Slow start reads a join time of 0 as "never joined": start the fake clock later.
    await vi.advanceTimersByTimeAsync(1000);

    const done = lb.rollout({ backends: fresh.map((b) => b.config), interval: '10s', healthGate: { minRequests: 0 } });
    expect(lb.rolloutStatus()).toMatchObject({ status: 'running', phase: 'observing', batch: 1, batches: 2 });
    await vi.advanceTimersByTimeAsync(20_000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(seen).toEqual([
      'rollout:started',
      'added c',
      'removed a',
      'rollout:step',
      'added d',
      'removed b',
      'rollout:step',
      'rollout:completed',
    ]);
    // Slow start: each new backend joins at the floor of its ramp.
    expect(warming).toEqual([0.1, 0.1]);
    expect(lb.rolloutStatus()).toMatchObject({ id: result.id, status: 'completed', phase: 'done' });

    seen.length = 0;
    const undone = await lb.rollback();
    expect(undone).toEqual({ id: result.id, restored: ['a', 'b'], removed: ['c', 'd'] });
    expect(ids(lb)).toEqual(['a', 'b']);
    expect(seen).toEqual(['added a', 'added b', 'removed c', 'removed d', 'rollout:rolled-back']);
    expect(lb.rolloutStatus()).toMatchObject({ status: 'rolled-back', rolledBack: true });
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) served.add((await request(front.port)).json<{ backend: string }>().backend);
    expect([...served].sort()).toEqual(['a', 'b']);
    await expect(lb.rollback()).rejects.toMatchObject({ code: 'ERR_NO_ROLLOUT' });
  });

  it('rejects rollback() before any rollout', async () => {
    const { lb } = await build(['a'], []);
    await expect(lb.rollback()).rejects.toMatchObject({ code: 'ERR_NO_ROLLOUT', status: 409 });
  });

  it('runs one rollout at a time', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a'], ['c', 'd']);
    const controller = new AbortController();
    const first = lb.rollout({ backends: [fresh[0]!.config], interval: '1m', signal: controller.signal });
    const second = lb.rollout({ backends: [fresh[1]!.config] });
    await expect(second).rejects.toBeInstanceOf(SwitchyardError);
    await expect(second).rejects.toMatchObject({ code: 'ERR_ROLLOUT_IN_PROGRESS' });
    await expect(lb.rollback()).rejects.toMatchObject({ code: 'ERR_ROLLOUT_IN_PROGRESS' });
    controller.abort();
    expect((await first).status).toBe('cancelled');
    // Free again once the first has ended.
    const third = lb.rollout({ backends: [fresh[1]!.config], interval: '1s', healthGate: { minRequests: 0 } });
    await vi.advanceTimersByTimeAsync(1000);
    expect((await third).status).toBe('completed');
    expect(ids(lb)).toEqual(['d']);
  });

  it('stops on cancellation and rolls back', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a', 'b'], ['c', 'd']);
    const controller = new AbortController();
    const events = record(lb, 'rollout:rolled-back');
    const done = lb.rollout({
      backends: fresh.map((b) => b.config),
      interval: '10s',
      healthGate: { minRequests: 0 },
      signal: controller.signal,
    });
    await vi.advanceTimersByTimeAsync(10_000); // batch 1 passes: c in, a out
    expect(ids(lb)).toEqual(['b', 'c', 'd']);
    controller.abort(new Error('operator said stop'));
    const result = await done;
    expect(result).toMatchObject({ status: 'cancelled', rolledBack: true, reason: 'cancelled: operator said stop' });
    expect(result.steps).toHaveLength(1);
    expect(events).toEqual([{ id: result.id, reason: 'cancelled: operator said stop' }]);
    expect(ids(lb).sort()).toEqual(['a', 'b']);
  });

  it('stops where it is on cancellation without autoRollback, and rollback() restores later', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a', 'b'], ['c', 'd']);
    const controller = new AbortController();
    const failed = record(lb, 'rollout:failed');
    const done = lb.rollout({
      backends: fresh.map((b) => b.config),
      interval: '10s',
      healthGate: { minRequests: 0 },
      autoRollback: false,
      signal: controller.signal,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    controller.abort();
    const result = await done;
    expect(result).toMatchObject({ status: 'cancelled', rolledBack: false });
    expect(failed).toHaveLength(1);
    expect(ids(lb)).toEqual(['b', 'c', 'd']);
    await lb.rollback();
    expect(ids(lb).sort()).toEqual(['a', 'b']);
  });

  it('stops without rolling back when the balancer closes', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a'], ['c']);
    const done = lb.rollout({ backends: [fresh[0]!.config], interval: '1m' });
    await lb.close();
    expect(await done).toMatchObject({
      status: 'cancelled',
      rolledBack: false,
      reason: 'cancelled: the load balancer closed',
    });
    await expect(lb.rollout({ backends: [fresh[0]!.config] })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('stops without rolling back when autoRollback is false and the gate fails', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a'], ['c']);
    const done = lb.rollout({ backends: [fresh[0]!.config], interval: '5s', autoRollback: false });
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result).toMatchObject({
      status: 'failed',
      rolledBack: false,
      reason: 'insufficient traffic: 0 of 10 attempts needed, and no active health checks to judge by',
    });
    expect(ids(lb)).toEqual(['a', 'c']);
  });

  it('keeps a backend listed in both sets with the same id and URL, applying its new weight', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, old, fresh } = await build(['a', 'b'], ['c']);
    const done = lb.rollout({
      backends: [{ ...old[0]!.config, weight: 3 }, fresh[0]!.config],
      interval: '1s',
      healthGate: { minRequests: 0 },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect((await done).steps.map((s) => [s.added, s.removed])).toEqual([[['c'], ['b']]]);
    expect(lb.backends().map((b) => [b.id, b.weight])).toEqual([
      ['a', 3],
      ['c', 1],
    ]);
    await lb.rollback();
    expect(lb.backends().map((b) => [b.id, b.weight])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('validates its options with ConfigError naming the path', async () => {
    const { lb, old, fresh } = await build(['a'], ['c']);
    const path = async (promise: Promise<unknown>) => {
      const error = await promise.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).path;
    };
    expect(await path(lb.rollout({ backends: [{ id: 'a', url: 'http://10.0.0.9:80' }] }))).toBe('backends[0].id');
    expect(await path(lb.rollout({ backends: [fresh[0]!.config, fresh[0]!.config] }))).toBe('backends[1].id');
    expect(await path(lb.rollout({ backends: [old[0]!.config] }))).toBe('backends');
    expect(await path(lb.rollout({ backends: [] }))).toBe('backends');
    expect(await path(lb.rollout({ backends: [fresh[0]!.config], batchSize: 0 }))).toBe('batchSize');
    expect(await path(lb.rollout({ backends: [fresh[0]!.config], healthGate: { maxErrorRate: 2 } }))).toBe(
      'healthGate.maxErrorRate',
    );
    expect(await path(lb.rollout({ backends: [fresh[0]!.config], interval: 'soon' as never }))).toBe('interval');
    expect(await path(lb.rollout({ backends: [fresh[0]!.config], healthGate: { lowTraffic: 'hope' as never } }))).toBe(
      'healthGate.lowTraffic',
    );
    expect(await path(lb.rollout({ backends: [fresh[0]!.config], healthGate: { trafficWait: -1 } }))).toBe(
      'healthGate.trafficWait',
    );
    expect(ids(lb)).toEqual(['a']);
    expect(lb.rolloutStatus()).toBeUndefined();
  });
});

describe('rollout with active health checks', () => {
  const healthCheck = { interval: 1000, timeout: 500, jitter: 0, healthyThreshold: 2 } as const;

  it('gives a new backend traffic only once it passes its checks', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, front, fresh } = await build(['a'], ['c'], { healthCheck });
    const healthy = next(lb, 'backend:healthy', (e) => e.backend.id === 'c');
    const done = lb.rollout({ backends: [fresh[0]!.config], interval: '5s', healthGate: { minRequests: 2 } });
    expect(lb.rolloutStatus()?.phase).toBe('health');
    expect(lb.backends().find((b) => b.id === 'c')?.status).toBe('unhealthy');
    expect((await request(front.port)).json<{ backend: string }>().backend).toBe('a');
    await vi.advanceTimersByTimeAsync(1000);
    await healthy;
    expect(lb.rolloutStatus()?.phase).toBe('observing');
    for (let i = 0; i < 4; i++) await request(front.port);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(result.steps[0]).toMatchObject({ requests: 2, failures: 0, errorRate: 0 });
    expect(ids(lb)).toEqual(['c']);
  });

  it('rolls back when a new backend does not pass its checks within healthTimeout', async () => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
    const { lb, fresh } = await build(['a'], ['c'], { healthCheck });
    fresh[0]!.setStatus(503);
    const done = lb.rollout({ backends: [fresh[0]!.config], healthTimeout: '3s' });
    await vi.advanceTimersByTimeAsync(3000);
    const result = await done;
    expect(result).toMatchObject({
      status: 'rolled-back',
      reason: 'backends c did not pass health checks within 3000 ms',
    });
    expect(ids(lb)).toEqual(['a']);
  });
});

// The policy for a batch whose window saw fewer than minRequests attempts (healthGate.lowTraffic).
const LOW_TRAFFIC_CHECKS = {
  interval: 1000,
  timeout: 500,
  jitter: 0,
  healthyThreshold: 1,
  unhealthyThreshold: 3,
} as const;

/** A rig with old backend a and fresh backend c, on fake timers. */
async function lowTrafficRig(options: Omit<LoadBalancerOptions, 'backends'> = {}) {
  vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
  const { lb, front, fresh } = await build(['a'], ['c'], options);
  return { lb, front, fresh: fresh[0] as MemoryBackend };
}

/** Sends `n` requests spread over the next `ms` of fake time. */
async function spreadTraffic(port: number, n: number, ms: number) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    statuses.push((await request(port)).status);
    await vi.advanceTimersByTimeAsync(ms / n);
  }
  return statuses;
}

describe("rollouts at low traffic (healthGate.lowTraffic, default 'health-checks')", () => {
  it('completes a healthy rollout with zero client traffic when health checks are on', async () => {
    const { lb, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(10_000);
    const result = await done;
    expect(result).toMatchObject({ status: 'completed', rolledBack: false });
    expect(result.steps[0]).toMatchObject({ requests: 0 });
    expect(ids(lb)).toEqual(['c']);
  });

  it('rolls back a rollout with zero traffic whose new backend fails a health check during the window', async () => {
    const { lb, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
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
    const { lb, fresh } = await lowTrafficRig();
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(await done).toMatchObject({
      status: 'rolled-back',
      reason: 'insufficient traffic: 0 of 10 attempts needed, and no active health checks to judge by',
    });
  });

  it('completes a healthy rollout under traffic, judged by its requests', async () => {
    const { lb, front, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(1000);
    const statuses = await spreadTraffic(front.port, 40, 4000);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(result.steps[0]!.requests).toBeGreaterThanOrEqual(10);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('rolls back a failing rollout under traffic even though its health checks pass', async () => {
    const { lb, front, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS, retry: false });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s' });
    await vi.advanceTimersByTimeAsync(1000);
    // Client requests fail, /health still answers 200: only traffic shows it.
    fresh.fail('reset');
    await spreadTraffic(front.port, 40, 4000);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await done;
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/error rate|is ejected|unhealthy|open/);
    expect(ids(lb)).toEqual(['a']);
  });

  it("'fail' rolls back a healthy rollout that saw no traffic", async () => {
    const { lb, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
    const done = lb.rollout({ backends: [fresh.config], interval: '5s', healthGate: { lowTraffic: 'fail' } });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await done).toMatchObject({
      status: 'rolled-back',
      reason: 'insufficient traffic: 0 of 10 attempts needed',
    });
  });

  it("'wait' extends the window until minRequests came, then completes", async () => {
    const { lb, front, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
    const done = lb.rollout({
      backends: [fresh.config],
      interval: '2s',
      healthGate: { lowTraffic: 'wait', trafficWait: '1m', minRequests: 6 },
    });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(lb.rolloutStatus()).toMatchObject({ status: 'running', phase: 'observing' });
    await spreadTraffic(front.port, 12, 2000);
    const result = await done;
    expect(result.status).toBe('completed');
    expect(result.steps[0]!.requests).toBeGreaterThanOrEqual(6);
  });

  it("'wait' rolls back when the traffic never comes within trafficWait", async () => {
    const { lb, fresh } = await lowTrafficRig({ healthCheck: LOW_TRAFFIC_CHECKS });
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
