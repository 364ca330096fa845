import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { createLoopbackBackend, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Listening, listen, request } from './helpers.js';
import { describeRedisServer, type PrivateRedis, startRedisServer } from './redis-server.js';

// The shared health view over a private redis-server. Each instance has its own in-memory copies
// of backends x and y (same ids), so each one's checks can be made to fail on its own.
let server: PrivateRedis;
const made: { lb: LoadBalancer; front: Listening; copies: MemoryBackend[] }[] = [];
let count = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  for (const { lb, front, copies } of made.splice(0)) {
    await front.close();
    await lb.close();
    await Promise.all(copies.map((b) => b.close()));
  }
});
afterAll(async () => {
  await server?.dispose();
});

const CHECKS = { interval: 100, timeout: 100, jitter: 0, healthyThreshold: 1, unhealthyThreshold: 2 } as const;

async function instance(prefix: string, quorum: number | 'majority') {
  const copies = ['x', 'y'].map((id) => createMemoryBackend({ id }));
  const lb = createLoadBalancer({
    strategy: 'round-robin',
    backends: copies.map((b) => b.config),
    healthCheck: CHECKS,
    redis: { url: server.url, keyPrefix: prefix },
    cluster: { membership: false, heartbeat: 100, health: { quorum }, rollouts: false },
  });
  // Recorded from creation: the view a late instance loads can arrive while its server starts listening.
  const instances = record(lb, 'cluster:instances');
  const health = record(lb, 'cluster:health');
  const entry = { lb, front: await listen(lb.handler), copies, instances, health };
  made.push(entry);
  return entry;
}

async function cluster(n: number, quorum: number | 'majority' = 2) {
  const prefix = `health${count++}:`;
  const list = [];
  for (let i = 0; i < n; i++) list.push(await instance(prefix, quorum));
  await Promise.all(
    list.map((e) =>
      e.instances.at(-1)?.live === n ? undefined : next(e.lb, 'cluster:instances', (x) => x.live === n),
    ),
  );
  return { prefix, list };
}

const status = (lb: LoadBalancer, id: string) => lb.backends().find((b) => b.id === id)?.status;
const servedBy = async (port: number, n: number) => {
  const ids = new Set<string>();
  for (let i = 0; i < n; i++) ids.add((await request(port)).json<{ backend: string }>().backend);
  return [...ids].sort();
};

describeRedisServer('shared health view (private redis-server)', () => {
  it('takes a backend out everywhere once a quorum of instances sees it down, and back when it recovers', async () => {
    const { list } = await cluster(3, 2);
    const [A, B, C] = list as [(typeof list)[number], (typeof list)[number], (typeof list)[number]];
    // A's own checks fail x: A stops using it at once; one vote is below the quorum of 2.
    const downOnA = next(A.lb, 'backend:unhealthy', (e) => e.backend.id === 'x');
    A.copies[0]?.setStatus(503);
    await downOnA;
    expect(await servedBy(A.front.port, 4)).toEqual(['y']);
    expect(status(C.lb, 'x')).toBe('healthy');
    expect(await servedBy(C.front.port, 4)).toEqual(['x', 'y']);
    // B sees it down too: quorum reached; C, whose own checks pass, takes it out as well.
    const clusterDownOnC = next(C.lb, 'cluster:health', (e) => e.backend === 'x' && e.down);
    B.copies[0]?.setStatus(503);
    expect((await clusterDownOnC)[0]).toMatchObject({ votes: 2, quorum: 2 });
    expect(status(C.lb, 'x')).toBe('unhealthy');
    expect(await servedBy(C.front.port, 4)).toEqual(['y']);
    // A recovers: one vote left, below the quorum: C uses x again.
    const upOnC = next(C.lb, 'cluster:health', (e) => e.backend === 'x' && !e.down);
    A.copies[0]?.setStatus(null);
    expect((await upOnC)[0]).toMatchObject({ votes: 1 });
    expect(await servedBy(C.front.port, 4)).toEqual(['x', 'y']);
  });

  it('gives an instance that joins late the current view', async () => {
    const { prefix, list } = await cluster(2, 2);
    const [A, B] = list as [(typeof list)[number], (typeof list)[number]];
    const down = Promise.all([A, B].map((e) => next(e.lb, 'cluster:health', (x) => x.backend === 'y' && x.down)));
    A.copies[1]?.setStatus(503);
    B.copies[1]?.setStatus(503);
    await down;
    const late = await instance(prefix, 2);
    // The view may have arrived before this line (recorded) or come after it (awaited): both are seen.
    const event =
      late.health.find((x) => x.backend === 'y') ??
      (await next(late.lb, 'cluster:health', (x) => x.backend === 'y'))[0];
    expect(event).toMatchObject({ down: true, votes: 2 });
    expect(await servedBy(late.front.port, 4)).toEqual(['x']);
  });

  it('uses a majority of the live instances by default, and drops the votes of an instance that left', async () => {
    const { list } = await cluster(3, 'majority');
    const [A, B, C] = list as [(typeof list)[number], (typeof list)[number], (typeof list)[number]];
    const down = next(C.lb, 'cluster:health', (e) => e.backend === 'x' && e.down);
    A.copies[0]?.setStatus(503);
    B.copies[0]?.setStatus(503);
    expect((await down)[0]).toMatchObject({ votes: 2, quorum: 2 });
    // B leaves: of 2 live instances a majority is 2, and only A still votes.
    const up = next(C.lb, 'cluster:health', (e) => e.backend === 'x' && !e.down);
    const index = made.indexOf(B);
    made.splice(index, 1);
    await B.front.close();
    await B.lb.close();
    await Promise.all(B.copies.map((b) => b.close()));
    expect((await up)[0]).toMatchObject({ votes: 1, quorum: 2 });
  });

  it('completes a health-checked rollout on 3 instances: pending backends are not voted down', async () => {
    const prefix = `health${count++}:`;
    const [a, c] = await Promise.all([createLoopbackBackend({ id: 'a' }), createLoopbackBackend({ id: 'c' })]);
    try {
      const lbs: LoadBalancer[] = [];
      for (let i = 0; i < 3; i++) {
        const lb = createLoadBalancer({
          backends: [a.config],
          // Lenient checks: a check timing out on a busy machine is not what this test is about.
          healthCheck: { interval: 200, timeout: 200, jitter: 0, healthyThreshold: 2, unhealthyThreshold: 3 },
          redis: { url: server.url, keyPrefix: prefix },
          cluster: { membership: true, heartbeat: 100, rollouts: false },
        });
        made.push({ lb, front: await listen(lb.handler), copies: [] });
        lbs.push(lb);
      }
      const [A] = lbs as [LoadBalancer];
      const seen = record(A, 'cluster:health');
      const result = await A.rollout({ backends: [c.config], interval: '500ms' });
      expect(result).toMatchObject({ status: 'completed' });
      expect(seen.filter((e) => e.backend === 'c' && e.down)).toEqual([]);
    } finally {
      await Promise.all([a.close(), c.close()]);
    }
  });

  it('ignores malformed messages on every cluster channel and keeps working', async () => {
    const prefix = `garbage${count++}:`;
    const lbs: LoadBalancer[] = [];
    for (let i = 0; i < 2; i++) {
      const lb = createLoadBalancer({
        backends: [{ id: 'a', url: 'http://127.0.0.1:40101/' }],
        redis: { url: server.url, keyPrefix: prefix },
        cluster: { membership: true, heartbeat: 100 },
      });
      made.push({ lb, front: await listen(lb.handler), copies: [] });
      lbs.push(lb);
    }
    const [A, B] = lbs as [LoadBalancer, LoadBalancer];
    await Promise.all(lbs.map((lb) => next(lb, 'cluster:instances', (e) => e.live === 2)));
    const client = new Redis(server.url);
    try {
      const junk = [
        'null',
        '[]',
        '42',
        'not json',
        '{"type":"record","record":null}',
        '{"type":"record","record":{"id":"x","status":null}}',
        '{"type":"record","record":{"id":"x","status":{},"previous":1}}',
        '{"type":"cancel"}',
        '{"epoch":7,"version":"1"}',
        '{"epoch":"e","version":1,"op":"add","id":"z"}',
        '{"backend":5,"origin":[]}',
        '{"backend":"a","origin":"ghost","down":true}',
      ];
      for (const channel of ['membership', 'rollout', 'health']) {
        for (const text of junk) await client.publish(`${prefix}${channel}`, text);
      }
      // Still one cluster: a change from B reaches A, and nothing was added, marked or shown.
      const added = next(A, 'backend:added', (e) => e.backend.id === 'y');
      B.addBackend({ id: 'y', url: 'http://127.0.0.1:40102/' });
      await added;
      expect(A.backends().map((b) => [b.id, b.status])).toEqual([
        ['a', 'healthy'],
        ['y', 'healthy'],
      ]);
      expect(A.rolloutStatus()).toBeUndefined();
    } finally {
      client.disconnect();
    }
  });
});
