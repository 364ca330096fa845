import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { waitUntil } from './cluster-helpers.js';
import { next } from './events.js';
import { describeRedisServer, type PrivateRedis, startRedisServer } from './redis-server.js';

// Membership over a Redis this file starts itself, so it can kill, restart and flush it.
// Bound stated in docs/cluster.md: after a reset, a change made on any instance reaches every
// instance within the reconnect delay (ioredis: at most 2 s) plus a few round trips; a set lost
// while nothing changes is re-created within `checkInterval`.
const BOUND_MS = 5000;

let server: PrivateRedis;
let inspector: Redis;
const instances: LoadBalancer[] = [];
let prefixCount = 0;

beforeAll(async () => {
  server = await startRedisServer();
  inspector = new Redis(server.url, { maxRetriesPerRequest: 1 });
  inspector.on('error', () => {});
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((lb) => lb.close()));
});
afterAll(async () => {
  inspector?.disconnect();
  await server?.dispose();
});

const url = (n: number) => `http://127.0.0.1:${40_000 + n}/`;

/** Three instances on one prefix, each configured with backend a; resolves once all three loaded the set. */
async function trio(checkInterval = 5000): Promise<{ lbs: LoadBalancer[]; prefix: string }> {
  const prefix = `loss${prefixCount++}:`;
  const lbs: LoadBalancer[] = [];
  for (let i = 0; i < 3; i++) {
    const lb = createLoadBalancer({
      backends: [{ id: 'a', url: url(1) }],
      redis: { url: server.url, keyPrefix: prefix },
      cluster: { membership: true, checkInterval, health: false, rollouts: false },
    });
    instances.push(lb);
    lbs.push(lb);
  }
  // Each instance has synced once the channel carries its changes: add and see it everywhere.
  await converge(
    lbs,
    () => lbs[0]?.addBackend({ id: 'warm', url: url(2) }),
    (lb) => has(lb, 'warm', 1),
  );
  return { lbs, prefix };
}

function has(lb: LoadBalancer, id: string, weight: number): boolean {
  return lb.backends().some((b) => b.id === id && b.weight === weight && b.status !== 'draining');
}

/**
 * Runs `change`, then resolves with the ms until `done` holds on every
 * instance, re-checked on each membership event (fails past BOUND_MS).
 */
function converge(lbs: LoadBalancer[], change: () => unknown, done: (lb: LoadBalancer) => boolean): Promise<number> {
  return waitUntil(
    lbs,
    ['backend:added', 'backend:updated', 'backend:removed', 'backend:draining'],
    () => lbs.every(done),
    {
      ms: BOUND_MS,
      change,
      describe: () => lbs.map((lb) => JSON.stringify(lb.backends().map((b) => [b.id, b.weight, b.status]))).join(' | '),
    },
  );
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

describeRedisServer('membership after Redis loses its data (private redis-server)', () => {
  it('converges a change from any instance on all 3 (20 trials, figures printed)', async () => {
    const { lbs } = await trio();
    const times: number[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const from = lbs[trial % 3] as LoadBalancer;
      const weight = trial + 2;
      times.push(
        await converge(
          lbs,
          () => from.updateBackend('warm', { weight }),
          (lb) => has(lb, 'warm', weight),
        ),
      );
    }
    console.log(
      `[figures] membership convergence, 3 instances, 20 trials: p50 ${ms(quantile(times, 0.5))}, max ${ms(Math.max(...times))}`,
    );
    expect(Math.max(...times)).toBeLessThan(BOUND_MS);
  });

  it('converges changes made after a restart without persistence on every instance', async () => {
    const { lbs, prefix } = await trio();
    const [A, B, C] = lbs as [LoadBalancer, LoadBalancer, LoadBalancer];
    // Before the restart: x at version n, known everywhere.
    await converge(
      lbs,
      () => A.updateBackend('warm', { weight: 7 }),
      (lb) => has(lb, 'warm', 7),
    );
    await server.stop();
    await server.start();
    // The version counter starts again at 1: without epochs these changes were ignored as stale.
    const elapsed = await converge(
      lbs,
      () => {
        B.updateBackend('a', { weight: 4 });
        C.addBackend({ id: 'y', url: url(3) });
        A.removeBackend('warm').catch(() => {});
      },
      (lb) =>
        has(lb, 'a', 4) && has(lb, 'y', 1) && !lb.backends().some((b) => b.id === 'warm' && b.status !== 'draining'),
    );
    console.log(`[figures] membership convergence after a Redis restart (reconnect included): ${ms(elapsed)}`);
    // The shared set was re-created with a new epoch and holds the converged view.
    const stored = await inspector.hgetall(`${prefix}members`);
    expect(Object.keys(stored).sort()).toEqual(['a', 'y']);
    expect(JSON.parse(stored.a as string).weight).toBe(4);
  });

  it('re-creates a set flushed while nothing changed, within checkInterval, and converges later changes', async () => {
    const { lbs, prefix } = await trio(200);
    const [A, B, C] = lbs as [LoadBalancer, LoadBalancer, LoadBalancer];
    const oldEpoch = await inspector.get(`${prefix}members:epoch`);
    const resynced = Promise.all(lbs.map((lb) => next(lb, 'cluster:resync')));
    const flushed = performance.now();
    await inspector.flushall();
    const events = (await resynced).map(([e]) => e);
    const recreated = performance.now() - flushed;
    console.log(`[figures] flushed set re-created and reloaded by all 3 (checkInterval 200 ms): ${ms(recreated)}`);
    // One instance re-created it; the three agree on the new epoch.
    expect(events.filter((e) => e?.seeded)).toHaveLength(1);
    const epoch = await inspector.get(`${prefix}members:epoch`);
    expect(epoch).not.toBe(oldEpoch);
    expect(new Set(events.map((e) => e?.epoch))).toEqual(new Set([epoch]));
    expect(Object.keys(await inspector.hgetall(`${prefix}members`)).sort()).toEqual(['a', 'warm']);
    await converge(
      lbs,
      () => C.updateBackend('a', { weight: 9 }),
      (lb) => has(lb, 'a', 9),
    );
    await converge(
      lbs,
      () => B.addBackend({ id: 'z', url: url(4) }),
      (lb) => has(lb, 'z', 1),
    );
    expect(
      A.backends()
        .map((b) => b.id)
        .sort(),
    ).toEqual(['a', 'warm', 'z']);
  });

  it('notices a flush on the next change when it is not polling', async () => {
    const { lbs } = await trio(0);
    const [A, B] = lbs as [LoadBalancer, LoadBalancer];
    await inspector.flushall();
    const elapsed = await converge(
      lbs,
      () => B.updateBackend('warm', { weight: 3 }),
      (lb) => has(lb, 'warm', 3),
    );
    expect(elapsed).toBeLessThan(BOUND_MS);
    await converge(
      lbs,
      () => A.addBackend({ id: 'q', url: url(5) }),
      (lb) => has(lb, 'q', 1),
    );
  });

  it('reloads a set whose counter went back (failover to a lagging replica)', async () => {
    const { lbs, prefix } = await trio(0);
    const [A, B] = lbs as [LoadBalancer, LoadBalancer];
    for (let weight = 2; weight < 6; weight++) {
      await converge(
        lbs,
        () => A.updateBackend('warm', { weight }),
        (lb) => has(lb, 'warm', weight),
      );
    }
    // The replica had the set as it was two changes ago: same epoch, older counter.
    await inspector.set(`${prefix}members:version`, '2');
    await converge(
      lbs,
      () => B.updateBackend('a', { weight: 8 }),
      (lb) => has(lb, 'a', 8),
    );
    await converge(
      lbs,
      () => A.updateBackend('a', { weight: 6 }),
      (lb) => has(lb, 'a', 6),
    );
  });

  it('resolves changes made on two instances during an outage the same way everywhere', async () => {
    const { lbs, prefix } = await trio();
    const [A, B] = lbs as [LoadBalancer, LoadBalancer];
    await server.stop();
    A.updateBackend('a', { weight: 2 });
    B.updateBackend('a', { weight: 3 });
    await server.start();
    // Whichever change Redis numbered last wins, on every instance and in the shared set.
    const weightOf = (lb: LoadBalancer) => lb.backends().find((b) => b.id === 'a')?.weight;
    await converge(
      lbs,
      () => {},
      (lb) => weightOf(lb) === weightOf(A) && weightOf(B) === weightOf(A),
    );
    const stored = JSON.parse((await inspector.hget(`${prefix}members`, 'a')) as string) as { weight: number };
    expect([2, 3]).toContain(stored.weight);
    expect(lbs.map(weightOf)).toEqual([stored.weight, stored.weight, stored.weight]);
  });
});
