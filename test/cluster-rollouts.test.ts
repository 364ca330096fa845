import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { waitUntil } from './cluster-helpers.js';
import { next } from './events.js';
import { describeRedisServer, type PrivateRedis, startRedisServer } from './redis-server.js';

// Shared rollouts over a private redis-server: one status everywhere, cancel and rollback from any
// instance, and a rollback by a survivor when the driving process is SIGKILLed mid-rollout.
let server: PrivateRedis;
const instances: LoadBalancer[] = [];
let count = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((lb) => lb.close()));
});
afterAll(async () => {
  await server?.dispose();
});

const backend = (id: string, n: number) => ({ id, url: `http://127.0.0.1:${41_000 + n}/` });
const OLD = [backend('a', 1), backend('b', 2)];
const NEW = [backend('c', 3), backend('d', 4)];
const ids = (lb: LoadBalancer) =>
  lb
    .backends()
    .filter((b) => b.status !== 'draining')
    .map((b) => b.id)
    .sort();

async function pair(leaseTtl = 600): Promise<{ prefix: string; A: LoadBalancer; B: LoadBalancer }> {
  const prefix = `rollouts${count++}:`;
  const make = () => {
    const lb = createLoadBalancer({
      backends: OLD,
      redis: { url: server.url, keyPrefix: prefix },
      cluster: { membership: true, health: false, heartbeat: 100, rollouts: { leaseTtl } },
    });
    instances.push(lb);
    return lb;
  };
  const A = make();
  const B = make();
  // Both registered (and synced: the sync runs on the same 'ready').
  await Promise.all([A, B].map((lb) => next(lb, 'cluster:instances', (e) => e.live === 2)));
  return { prefix, A, B };
}

/** Resolves with the ms until `done()` holds, re-checked on each rollout and membership event. */
function until(lbs: LoadBalancer[], done: () => boolean, ms = 8000): Promise<number> {
  return waitUntil(lbs, ['cluster:rollout', 'backend:added', 'backend:removed', 'rollout:rolled-back'], done, {
    ms,
    describe: () => JSON.stringify(lbs.map((lb) => [ids(lb), lb.rolloutStatus()?.status, lb.rolloutStatus()?.phase])),
  });
}

describeRedisServer('shared rollouts (private redis-server)', () => {
  it('shows the same rolloutStatus() on every instance, from start to end', async () => {
    const { A, B } = await pair();
    const seen = next(B, 'cluster:rollout', (e) => e.phase === 'observing');
    const done = A.rollout({ backends: NEW, batchSize: 1, interval: '300ms', healthGate: { minRequests: 0 } });
    await seen;
    expect(B.rolloutStatus()).toMatchObject({ id: A.rolloutStatus()?.id, status: 'running', phase: 'observing' });
    const result = await done;
    expect(result.status).toBe('completed');
    await until([B], () => B.rolloutStatus()?.status === 'completed');
    expect(B.rolloutStatus()).toEqual(A.rolloutStatus());
    await until([A, B], () => ids(B).join() === 'c,d');
    // The driver released the lease: B may start the next one, and A sees it.
    const again = B.rollout({ backends: OLD, interval: 0, healthGate: { minRequests: 0 } });
    expect((await again).status).toBe('completed');
    await until(
      [A],
      () => A.rolloutStatus()?.id === B.rolloutStatus()?.id && A.rolloutStatus()?.status === 'completed',
    );
  });

  it('refuses a second rollout on another instance while one runs', async () => {
    const { A, B } = await pair();
    const seen = next(B, 'cluster:rollout');
    const done = A.rollout({ backends: NEW, interval: '1h', healthGate: { minRequests: 0 } });
    await seen;
    await expect(B.rollout({ backends: [backend('e', 5)] })).rejects.toMatchObject({ code: 'ERR_ROLLOUT_IN_PROGRESS' });
    await expect(B.rollback()).rejects.toMatchObject({ code: 'ERR_ROLLOUT_IN_PROGRESS' });
    expect(A.cancelRollout()).toBe(true);
    await done;
  });

  it('cancels from another instance: the driver rolls back', async () => {
    const { A, B } = await pair();
    const seen = next(B, 'cluster:rollout', (e) => e.phase === 'observing');
    const done = A.rollout({ backends: NEW, interval: '1h', healthGate: { minRequests: 0 } });
    await seen;
    expect(B.cancelRollout('stop it')).toBe(true);
    expect(await done).toMatchObject({ status: 'cancelled', rolledBack: true, reason: 'cancelled: stop it' });
    await until([A, B], () => B.rolloutStatus()?.status === 'cancelled' && ids(B).join() === 'a,b');
    expect(ids(A)).toEqual(['a', 'b']);
  });

  it('rolls back from an instance that did not drive the rollout', async () => {
    const { A, B } = await pair();
    const result = await A.rollout({ backends: NEW, batchSize: 2, interval: 0, healthGate: { minRequests: 0 } });
    expect(result.status).toBe('completed');
    await until([B], () => B.rolloutStatus()?.status === 'completed' && ids(B).join() === 'c,d');
    const undone = await B.rollback();
    expect(undone).toMatchObject({ id: result.id, restored: ['a', 'b'] });
    expect([...undone.removed].sort()).toEqual(['c', 'd']);
    await until([A], () => A.rolloutStatus()?.status === 'rolled-back' && ids(A).join() === 'a,b');
    // Rolled back everywhere: nothing left to restore, on either instance.
    await expect(A.rollback()).rejects.toMatchObject({ code: 'ERR_NO_ROLLOUT' });
    await expect(B.rollback()).rejects.toMatchObject({ code: 'ERR_NO_ROLLOUT' });
  });

  it('rolls back, from a survivor, a rollout whose driver is SIGKILLed mid-rollout (figure printed)', async () => {
    const { prefix, A, B } = await pair();
    const script = fileURLToPath(new URL('./fixtures/rollout-driver.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, server.url, prefix, JSON.stringify(OLD), JSON.stringify(NEW)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      // After batch 1 passed (a drained, c in service), during batch 2: kill the driver.
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('step 1')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`driver exited early (${code}): ${out}`)));
      });
      child.kill('SIGKILL');
      const killed = performance.now();
      await new Promise((resolve) => child.once('exit', resolve));
      const running = A.rolloutStatus();
      expect(running).toMatchObject({ status: 'running', batches: 2 });
      const recovered = await until(
        [A, B],
        () =>
          [A, B].every((lb) => lb.rolloutStatus()?.status === 'rolled-back') &&
          ids(A).join() === 'a,b' &&
          ids(B).join() === 'a,b',
      );
      const total = performance.now() - killed;
      console.log(
        `[figures] rollout recovery after the driver was SIGKILLed (lease 600 ms): ${total.toFixed(0)} ms to rolled-back with the old set on both survivors`,
      );
      expect(recovered).toBeLessThan(8000);
      expect(A.rolloutStatus()).toEqual(B.rolloutStatus());
      expect(A.rolloutStatus()?.reason).toMatch(/lost its lease/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
