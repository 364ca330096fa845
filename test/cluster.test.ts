import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createLoopbackBackend, createMemoryBackend, type LoopbackBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Listening, listen, request } from './helpers.js';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from './redis.js';

interface Instance {
  lb: LoadBalancer;
  front: Listening;
}

const instances: Instance[] = [];
const backends: LoopbackBackend[] = [];
const prefixes: string[] = [];
let inspector: Redis;

beforeAll(() => {
  inspector = testClient();
});
afterEach(async () => {
  for (const { lb, front } of instances.splice(0)) {
    await front.close();
    await lb.close();
  }
  await Promise.all(backends.splice(0).map((b) => b.close()));
  for (const prefix of prefixes.splice(0)) await deleteKeys(inspector, prefix);
});
afterAll(() => {
  inspector.disconnect();
});

async function loopback(id: string): Promise<LoopbackBackend> {
  const backend = await createLoopbackBackend({ id });
  backends.push(backend);
  return backend;
}

function keyPrefix(name: string): string {
  const prefix = uniquePrefix(`cluster-${name}`);
  prefixes.push(prefix);
  return prefix;
}

async function instance(prefix: string, options: Omit<LoadBalancerOptions, 'redis' | 'cluster'> = {}) {
  const lb = createLoadBalancer({
    strategy: 'round-robin',
    ...options,
    redis: { url: REDIS_URL, keyPrefix: prefix },
    cluster: { membership: true },
  });
  const front = await listen(lb.handler);
  instances.push({ lb, front });
  return { lb, front };
}

const ids = (lb: LoadBalancer) => lb.backends().map((b) => b.id);

describeRedis('shared membership', () => {
  it('routes a backend added on one instance from every other instance', async () => {
    const prefix = keyPrefix('add');
    const [a, x] = [await loopback('a'), await loopback('x')];
    const A = await instance(prefix, { backends: [a.config] });
    const B = await instance(prefix, { backends: [a.config] });
    const [onA, onB] = [record(A.lb, 'redis'), record(B.lb, 'redis')];
    const added = next(B.lb, 'backend:added', (e) => e.backend.id === 'x');
    A.lb.addBackend({ ...x.config, weight: 3 });
    const [event] = await added;
    expect(event?.backend).toMatchObject({ id: 'x', weight: 3, url: `${x.url}/` });
    B.lb.updateBackend('a', { weight: 0.001 });
    const replies = [await request(B.front.port), await request(B.front.port)];
    expect(replies.map((r) => (r.json() as { backend: string }).backend)).toContain('x');
    expect(x.requests.length).toBeGreaterThan(0);
    const stored = JSON.parse((await inspector.hget(`${prefix}members`, 'x')) as string);
    expect(stored).toMatchObject({ url: `${x.url}/`, weight: 3 });
    expect(stored.version).toBeGreaterThan(0);
    expect([...onA, ...onB].filter((e) => e.state === 'error')).toEqual([]);
  });

  it('applies a weight or limit change made on another instance', async () => {
    const prefix = keyPrefix('update');
    const a = await loopback('a');
    const A = await instance(prefix, { backends: [a.config] });
    const B = await instance(prefix, { backends: [a.config] });
    const updated = next(A.lb, 'backend:updated');
    // B may not have loaded the shared set yet: the update still reaches A.
    B.lb.updateBackend('a', { weight: 5, maxConnections: 7 });
    const [event] = await updated;
    expect(event?.previous.weight).toBe(1);
    expect(A.lb.backends()[0]).toMatchObject({ id: 'a', weight: 5, maxConnections: 7 });
  });

  it('drains and removes on every instance a backend removed on one', async () => {
    const prefix = keyPrefix('remove');
    const [a, x] = [await loopback('a'), await loopback('x')];
    const A = await instance(prefix, { backends: [a.config, x.config] });
    const B = await instance(prefix, { backends: [a.config, x.config] });
    // An in-flight request on B's x: B drains it before removing x.
    x.setLatency(300);
    const slow = request(B.front.port);
    while (x.requests.length === 0) await request(B.front.port);
    const draining = next(B.lb, 'backend:draining');
    const removed = next(B.lb, 'backend:removed');
    const drained = next(B.lb, 'backend:drained');
    await A.lb.removeBackend('x', { drain: false });
    expect((await draining)[0]?.backend.id).toBe('x');
    expect((await drained)[0]).toMatchObject({ timedOut: false, abandoned: 0 });
    expect((await removed)[0]?.backend.id).toBe('x');
    expect((await slow).status).toBe(200);
    expect(ids(B.lb)).toEqual(['a']);
    expect(await inspector.hexists(`${prefix}members`, 'x')).toBe(0);
  });

  it('loads the current set into an instance that starts later (the shared set wins over its backends)', async () => {
    const prefix = keyPrefix('late');
    const [a, b, x] = [await loopback('a'), await loopback('b'), await loopback('x')];
    const A = await instance(prefix, { backends: [a.config, b.config] });
    const B = await instance(prefix, { backends: [a.config, b.config] });
    const seen = next(B.lb, 'backend:added', (e) => e.backend.id === 'x');
    A.lb.addBackend(x.config);
    await seen;
    const gone = next(B.lb, 'backend:removed');
    await A.lb.removeBackend('b');
    await gone;
    const memory = createMemoryBackend({ id: 'mem' });
    // C was configured with the old set plus a local-only in-memory backend.
    const C = createLoadBalancer({
      strategy: 'round-robin',
      backends: [a.config, b.config, memory.config],
      redis: { url: REDIS_URL, keyPrefix: prefix },
      cluster: { membership: true },
    });
    instances.push({ lb: C, front: await listen(C.handler) });
    const loaded = next(C, 'backend:added', (e) => e.backend.id === 'x');
    const dropped = next(C, 'backend:removed', (e) => e.backend.id === 'b');
    await Promise.all([loaded, dropped]);
    expect(ids(C).sort()).toEqual(['a', 'mem', 'x']);
    // The in-memory backend stays local: nobody else learns of it.
    expect(await inspector.hexists(`${prefix}members`, 'mem')).toBe(0);
    await memory.close();
  });

  it('ignores its own echoes and stale or out-of-order versions', async () => {
    const prefix = keyPrefix('echo');
    const [a, x, y] = [await loopback('a'), await loopback('x'), await loopback('y')];
    const A = await instance(prefix, { backends: [a.config] });
    const B = await instance(prefix, { backends: [a.config] });
    const addedOnA = record(A.lb, 'backend:added');
    const updatedOnA = record(A.lb, 'backend:updated');
    const changesOnB = record(B.lb, 'backend:updated');
    const removedOnB = record(B.lb, 'backend:removed');
    const onB = next(B.lb, 'backend:added', (e) => e.backend.id === 'x');
    A.lb.addBackend(x.config);
    A.lb.updateBackend('x', { weight: 2 });
    await onB;
    const version = Number(await inspector.get(`${prefix}members:version`));
    // Stale: an older version of x (a remove and a weight change) arrives late.
    const stale = (op: string, v: number, extra = {}) =>
      inspector.publish(`${prefix}membership`, JSON.stringify({ version: v, origin: 'other', op, id: 'x', ...extra }));
    await stale('remove', version - 1);
    await stale('update', version, { backend: { url: x.url, weight: 9 } });
    // A later change from B travels the same channel: once A sees it, A has seen its echoes too.
    const later = next(A.lb, 'backend:added', (e) => e.backend.id === 'y');
    B.lb.addBackend(y.config);
    await later;
    expect(addedOnA.map((e) => e.backend.id)).toEqual(['x', 'y']);
    expect(updatedOnA).toHaveLength(1);
    expect(removedOnB).toHaveLength(0);
    expect(B.lb.backends().find((b) => b.id === 'x')?.weight).toBe(2);
    expect(changesOnB.every((e) => e.backend.weight === 2)).toBe(true);
  });

  it('propagates the membership changes of a rollout', async () => {
    const prefix = keyPrefix('rollout');
    const [a, v2] = [await loopback('a'), await loopback('v2')];
    const A = await instance(prefix, { backends: [a.config] });
    const B = await instance(prefix, { backends: [a.config] });
    const done = Promise.all([
      next(B.lb, 'backend:added', (e) => e.backend.id === 'v2'),
      next(B.lb, 'backend:removed', (e) => e.backend.id === 'a'),
    ]);
    const result = await A.lb.rollout({ backends: [v2.config], interval: 0, healthGate: { minRequests: 0 } });
    expect(result).toMatchObject({ status: 'completed' });
    await done;
    expect(ids(B.lb)).toEqual(['v2']);
  });

  it('keeps working locally, without throwing, while Redis is unreachable', async () => {
    const a = createMemoryBackend({ id: 'a' });
    const x = await loopback('x');
    const lb = createLoadBalancer({
      backends: [a.config],
      redis: 'redis://127.0.0.1:1',
      cluster: { membership: true },
    });
    const added = record(lb, 'backend:added');
    expect(lb.addBackend(x.config).id).toBe('x');
    expect(lb.updateBackend('x', { weight: 4 }).weight).toBe(4);
    expect(added).toHaveLength(1);
    const front = await listen(lb.handler);
    expect((await request(front.port)).status).toBe(200);
    await lb.removeBackend('x');
    expect(lb.backends().map((b) => b.id)).toEqual(['a']);
    await front.close();
    await lb.close();
    await a.close();
  });
});

it('refuses shared membership without redis, naming the cluster option', () => {
  expect(() => createLoadBalancer({ cluster: { membership: true } })).toThrow(/cluster/);
  expect(() => createLoadBalancer({ cluster: { membership: true, channel: '' } })).toThrow(/cluster\.channel/);
});
