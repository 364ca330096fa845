import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backend } from '../../core/backend.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import type { Strategy } from '../../core/strategy.js';
import { createMemoryBackend, type MemoryBackend } from '../../testing/index.js';
import { Pool } from '../pool/pool.js';
import { roundRobin } from '../strategies/round-robin.js';
import { HealthChecker } from './checker.js';
import { healthCheckSchema } from './options.js';
import type { FailureDetector } from './phi-accrual.js';

let memory: MemoryBackend[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(memory.map((m) => m.close()));
  memory = [];
});

function world(options: object, onPass?: (backend: Backend, startedAt: number) => void) {
  const now = () => Date.now();
  const pool = new Pool(roundRobin() as Strategy<Backend>, now);
  const events = new Events();
  const target = createMemoryBackend({ id: 'a' });
  memory.push(target);
  const backend = new Backend({
    id: 'a',
    url: new URL(target.url),
    weight: 1,
    maxConnections: Infinity,
    agent: target.agent(),
  });
  pool.add(backend);
  const observers = onPass ? [{ checkPassed: onPass }] : [];
  const checker = new HealthChecker({ pool, events, now, random: () => 0.5, observers });
  checker.configure(healthCheckSchema.parse({ interval: 1000, timeout: 500, jitter: 0, ...options }));
  const checks: SwitchyardEvents['health:check'][] = [];
  const transitions: string[] = [];
  events.on('health:check', (e) => checks.push(e));
  events.on('backend:unhealthy', (e) => transitions.push(`unhealthy: ${e.reason}`));
  events.on('backend:healthy', (e) => transitions.push(`healthy: ${e.reason}`));
  const nextCheck = () =>
    new Promise<SwitchyardEvents['health:check']>((resolve) => events.once('health:check', resolve));
  return { pool, events, target, backend, checker, checks, transitions, nextCheck };
}

async function tick(w: ReturnType<typeof world>, ms: number) {
  const done = w.nextCheck();
  await vi.advanceTimersByTimeAsync(ms);
  return done;
}

describe('HealthChecker', () => {
  it('restarts slow start and returns the backend to the pool when it recovers', async () => {
    const w = world({ unhealthyThreshold: 1, healthyThreshold: 1 });
    w.target.setStatus(500);
    await tick(w, 0);
    expect(w.pool.candidates(new Set())).toEqual([]);
    w.target.setStatus(null);
    vi.setSystemTime(Date.now() + 12_345);
    await tick(w, 1000);
    expect(w.backend.warmingSince).toBe(Date.now());
    expect(w.pool.candidates(new Set())).toEqual([w.backend]);
    expect(w.transitions).toEqual([
      'unhealthy: 1 consecutive failed checks, last: status 500',
      'healthy: 1 consecutive passing checks',
    ]);
    w.checker.close();
  });

  it('checks over the backend’s keep-alive agent', async () => {
    const w = world({});
    for (let i = 0; i < 4; i++) await tick(w, i === 0 ? 0 : 1000);
    expect(w.target.requests).toHaveLength(4);
    expect(w.target.connections).toBe(1);
    w.checker.close();
  });

  it('asks a custom detector after each failed check', async () => {
    const suspicious: FailureDetector = {
      heartbeat: vi.fn(),
      suspicion: () => 42,
      isAvailable: () => false,
      reset: vi.fn(),
    };
    const factory = vi.fn(() => suspicious);
    const w = world({ unhealthyThreshold: 5, detector: factory });
    expect(factory).toHaveBeenCalledWith('a');
    await tick(w, 0);
    expect(suspicious.heartbeat).toHaveBeenCalledTimes(1);
    w.target.setStatus(503);
    await tick(w, 1000);
    expect(w.transitions).toEqual(['unhealthy: failure detector suspects it (phi 42.0), last: status 503']);
    expect(suspicious.reset).toHaveBeenCalledTimes(1);
    w.checker.close();
  });

  it('reports nothing for a check cut short by remove()', async () => {
    const w = world({});
    await w.target.fail('hang');
    await vi.advanceTimersByTimeAsync(0);
    expect(w.target.requests).toHaveLength(1);
    w.checker.remove(w.backend);
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.checks).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('records the check duration on the balancer clock', async () => {
    const w = world({});
    w.target.setLatency(120);
    const check = await tick(w, 200);
    expect(check).toMatchObject({ backend: 'a', ok: true, status: 200, durationMs: 120 });
    w.checker.close();
  });

  it('tells its observers of each passing check with the time it started, and of no failing one', async () => {
    const passes: Array<[string, number]> = [];
    const w = world({}, (backend, startedAt) => passes.push([backend.id, startedAt]));
    w.target.setLatency(120);
    const started = Date.now(); // the first check goes out at once (jitter 0)
    await tick(w, 200);
    expect(passes).toEqual([['a', started]]);
    w.target.setStatus(500);
    await tick(w, 1120);
    expect(passes).toHaveLength(1);
    w.checker.close();
  });
});
