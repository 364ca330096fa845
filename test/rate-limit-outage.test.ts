import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Listening, listen, request } from './helpers.js';
import { describeRedisServer, type PrivateRedis, startRedisServer } from './redis-server.js';

// Rate limits across a real outage of a private redis-server, on an injected clock: 10 simulated
// seconds of traffic to 3 instances while Redis is down, against a global limit of 12 per second.
const POINTS = 12;
const SECONDS = 10;
const PER_INSTANCE_PER_SECOND = 20;

let server: PrivateRedis;
const made: { lb: LoadBalancer; front: Listening; instances: { live: number }[] }[] = [];
const backends: MemoryBackend[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(async () => {
  for (const { lb, front } of made.splice(0)) {
    await front.close();
    await lb.close();
  }
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await server.start();
});
afterAll(async () => {
  await server?.dispose();
});

const clock = { ms: 1_000_000 };

async function trio(prefix: string, extra: Omit<LoadBalancerOptions, 'backends' | 'redis'>) {
  const backend = createMemoryBackend({ id: 'a' });
  backends.push(backend);
  const list: (typeof made)[number][] = [];
  for (let i = 0; i < 3; i++) {
    const lb = createLoadBalancer({
      strategy: 'round-robin',
      now: () => clock.ms,
      backends: [backend.config],
      redis: { url: server.url, keyPrefix: prefix },
      ...extra,
    });
    // Recorded from the start: the registry's first refresh may come before anyone else listens.
    const instances = record(lb, 'cluster:instances');
    const entry = { lb, front: await listen(lb.handler), instances };
    made.push(entry);
    list.push(entry);
  }
  return list;
}

/** Each simulated second: PER_INSTANCE_PER_SECOND requests to each instance; the admitted count. */
async function outageTraffic(list: { front: Listening }[]): Promise<number> {
  let admitted = 0;
  for (let second = 0; second < SECONDS; second++) {
    clock.ms += 1000;
    for (let i = 0; i < PER_INSTANCE_PER_SECOND; i++) {
      for (const { front } of list) if ((await request(front.port)).status === 200) admitted++;
    }
  }
  return admitted;
}

describeRedisServer('rate limits during a Redis outage (3 instances, injected clock)', () => {
  it("keeps the cluster near the global limit with outageInstances: 'live' (vs 3x with the default)", async () => {
    const rateLimit = { points: POINTS, duration: '1s' } as const;
    const live = await trio('outage-live:', {
      rateLimit: { ...rateLimit, outageInstances: 'live' },
      cluster: { membership: true, heartbeat: '100ms', health: false, rollouts: false },
    });
    const full = await trio('outage-full:', { rateLimit });
    const fixed = await trio('outage-fixed:', { rateLimit: { ...rateLimit, outageInstances: 3 } });
    // Every 'live' instance has seen the three.
    await Promise.all(
      live.map(({ lb, instances }) =>
        instances.at(-1)?.live === 3 ? undefined : next(lb, 'cluster:instances', (e) => e.live === 3),
      ),
    );
    const down = made.map(({ lb }) => next(lb, 'redis', (e) => e.state !== 'ready'));
    await server.stop();
    await Promise.all(down);
    const global = POINTS * SECONDS;
    const admittedLive = await outageTraffic(live);
    const admittedFull = await outageTraffic(full);
    const admittedFixed = await outageTraffic(fixed);
    console.log(
      `[figures] admitted during a ${SECONDS} s Redis outage, 3 instances, global limit ${global} (${POINTS}/s), ${3 * PER_INSTANCE_PER_SECOND * SECONDS} requests offered: ` +
        `outageInstances 'live' ${admittedLive}, outageInstances 3 ${admittedFixed}, default (1) ${admittedFull}`,
    );
    expect(admittedLive).toBe(global);
    expect(admittedFixed).toBe(global);
    expect(admittedFull).toBe(3 * global);
  });
});
