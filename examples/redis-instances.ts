/**
 * Two balancer instances sharing one Redis: a backend added on one is routed
 * to by both (shared membership), and a rate limit counts the requests of
 * both against one budget.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/redis-instances.ts
 *
 * Keys go under a prefix unique to this run and are deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createLoadBalancer, type LoadBalancer } from 'switchyard-lb';
import { createLoopbackBackend } from 'switchyard-lb/testing';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = `example:${randomUUID().slice(0, 8)}:`;
const [a, b] = await Promise.all([createLoopbackBackend({ id: 'a' }), createLoopbackBackend({ id: 'b' })]);

function instance(): LoadBalancer {
  return createLoadBalancer({
    backends: [{ id: 'a', url: a.url }],
    redis: { url: redisUrl, keyPrefix },
    cluster: { membership: true },
    rateLimit: { points: 3, duration: '1m', key: 'ip' },
  });
}
const east = instance();
const west = instance();

async function serve(lb: LoadBalancer): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(lb.handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const [e, w] = await Promise.all([serve(east), serve(west)]);

// Membership: add b on east; west hears of it over Redis pub/sub (or, if its
// subscription is not up yet, loads it from the shared set once it is).
const heard = new Promise<void>((resolve) => west.once('backend:added', () => resolve()));
east.addBackend({ id: 'b', url: b.url });
await heard;
console.log(
  'west backends:',
  west
    .backends()
    .map((x) => x.id)
    .join(', '),
);

// Rate limit: 3 per minute per client IP, across both instances.
const statuses: number[] = [];
for (const url of [e.url, w.url, e.url, w.url]) statuses.push((await fetch(`${url}/`)).status);
console.log('statuses:', statuses.join(' '));

e.server.close();
w.server.close();
await Promise.all([east.close(), west.close(), a.close(), b.close()]);
const redis = new Redis(redisUrl);
let cursor = '0';
do {
  const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
  cursor = next;
  if (keys.length > 0) await redis.del(...keys);
} while (cursor !== '0');
redis.disconnect();
