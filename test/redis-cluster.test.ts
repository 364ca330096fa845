import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  ConfigError,
  createLoadBalancer,
  type LoadBalancer,
  type LoadBalancerOptions,
  type SwitchyardEvents,
} from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Listening, listen, request } from './helpers.js';
import { describeRedisServer, type PrivateCluster, startRedisCluster } from './redis-server.js';

// A real 3-master Redis Cluster started by this file (redis-cli --cluster create) on private ports.
let cluster: PrivateCluster;
const clients: Cluster[] = [];
const made: { lb: LoadBalancer; front: Listening; errors: SwitchyardEvents['redis'][] }[] = [];
const backends: MemoryBackend[] = [];
let tag = 0;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 180_000);
afterEach(async () => {
  for (const { lb, front } of made.splice(0)) {
    await front.close();
    await lb.close();
  }
  await Promise.all(backends.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await cluster?.stop();
});

async function clusterClient(): Promise<Cluster> {
  const client = new Cluster([...cluster.nodes], {
    enableOfflineQueue: false,
    redisOptions: { maxRetriesPerRequest: 1 },
  });
  client.on('error', () => {});
  clients.push(client);
  if (client.status !== 'ready') await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  return client;
}

function memory(ids: string[]): MemoryBackend[] {
  const list = ids.map((id) => createMemoryBackend({ id }));
  backends.push(...list);
  return list;
}

/** `count` balancers, each on its own Cluster client, all on one hash-tagged prefix. */
async function instances(count: number, options: Omit<LoadBalancerOptions, 'redis'>) {
  const keyPrefix = `{sy${tag++}}:`;
  const out: (typeof made)[number][] = [];
  for (let i = 0; i < count; i++) {
    const lb = createLoadBalancer({
      strategy: 'round-robin',
      ...options,
      redis: { client: await clusterClient(), keyPrefix },
    });
    const entry = { lb, front: await listen(lb.handler), errors: record(lb, 'redis') };
    made.push(entry);
    out.push(entry);
  }
  return out;
}

const crossSlot = (list: typeof made) =>
  list.flatMap((m) => m.errors).filter((e) => /CROSSSLOT/i.test(e.message ?? ''));
const backendOf = (body: string) => (JSON.parse(body) as { backend: string }).backend;

describeRedisServer('on a real 3-master Redis Cluster', () => {
  it('refuses a Cluster client with an untagged keyPrefix, naming redis.keyPrefix; tags the default prefix', async () => {
    const client = await clusterClient();
    let error: unknown;
    try {
      createLoadBalancer({ redis: { client, keyPrefix: 'edge:' }, cluster: { membership: true } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ path: 'redis.keyPrefix', value: 'edge:' });
    expect((error as Error).message).toMatch(/\{edge\}:/);
    const lb = createLoadBalancer({ redis: client });
    expect(lb.config.redis?.keyPrefix).toBe('{switchyard}:');
    await lb.close();
  });

  it('shares one rate limit across instances', async () => {
    memory(['a']);
    const list = await instances(3, {
      backends: backends.map((b) => b.config),
      rateLimit: { points: 5, duration: '1h' },
    });
    const replies = [];
    for (let i = 0; i < 15; i++) replies.push(await request((list[i % 3] as (typeof made)[number]).front.port));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
    expect(replies.filter((r) => r.status === 429)).toHaveLength(10);
    expect(crossSlot(list)).toEqual([]);
  });

  it('routes a sticky session alike from every instance', async () => {
    memory(['a', 'b', 'c']);
    const list = await instances(2, { backends: backends.map((b) => b.config), sticky: { mode: 'header' } });
    const [one, two] = list as [(typeof made)[number], (typeof made)[number]];
    // Put two's rotation one step ahead of one's.
    await request(two.front.port, { headers: { 'x-session-id': 'warm-up' } });
    const first = backendOf((await request(one.front.port, { headers: { 'x-session-id': 'alice' } })).text);
    for (let i = 0; i < 6; i++) {
      const reply = await request((i % 2 ? one : two).front.port, { headers: { 'x-session-id': 'alice' } });
      expect(backendOf(reply.text)).toBe(first);
    }
    expect(crossSlot(list)).toEqual([]);
  });

  it('serves from the shared cache on another instance', async () => {
    const origin = createMemoryBackend({
      id: 'origin',
      handler: (req, res) => {
        res.setHeader('cache-control', 'max-age=60');
        res.end(`shared ${req.url}`);
      },
    });
    backends.push(origin);
    const list = await instances(2, { backends: [origin.config], cache: { redis: true } });
    const [one, two] = list as [(typeof made)[number], (typeof made)[number]];
    const host = `127.0.0.1:${one.front.port}`;
    expect((await request(one.front.port, { path: '/p' })).headers['x-cache']).toBe('MISS');
    const hit = await request(two.front.port, { path: '/p', headers: { host } });
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.text).toBe('shared /p');
    expect(origin.requests).toHaveLength(1);
    expect(crossSlot(list)).toEqual([]);
  });

  it('shares membership changes, survives a flush of the slot, and reports no CROSSSLOT error', async () => {
    const list = await instances(3, {
      backends: [{ id: 'a', url: 'http://127.0.0.1:40001' }],
      cluster: { membership: true, health: false, rollouts: false, checkInterval: 0 },
    });
    const [A, B, C] = list.map((m) => m.lb) as [LoadBalancer, LoadBalancer, LoadBalancer];
    const seen = (lb: LoadBalancer, id: string) => next(lb, 'backend:added', (e) => e.backend.id === id);
    // Wait for all three to have loaded the set: a change is then seen everywhere.
    let added = Promise.all([seen(B, 'x'), seen(C, 'x')]);
    A.addBackend({ id: 'x', url: 'http://127.0.0.1:40002' });
    await added;
    const updated = Promise.all([A, C].map((lb) => next(lb, 'backend:updated')));
    B.updateBackend('x', { weight: 4 });
    await updated;
    expect([A, B, C].map((lb) => lb.backends().find((b) => b.id === 'x')?.weight)).toEqual([4, 4, 4]);
    // Lose the set (all keys live on one node: the hash tag's) and change on C.
    const client = clients[clients.length - 1] as Cluster;
    const prefix = A.config.redis?.keyPrefix as string;
    expect(await client.del(`${prefix}members`, `${prefix}members:version`, `${prefix}members:epoch`)).toBe(3);
    added = Promise.all([seen(A, 'y'), seen(B, 'y')]);
    C.addBackend({ id: 'y', url: 'http://127.0.0.1:40003' });
    await added;
    expect(crossSlot(list)).toEqual([]);
    expect(list.flatMap((m) => m.errors).filter((e) => e.state === 'error')).toEqual([]);
  });
});
