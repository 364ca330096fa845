import http2, { type ClientHttp2Session } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { createMemoryBackend, type TestBackend } from '../../src/testing/index.js';
import { forwarderOptions } from '../conformance/forwarders.js';
import { closeSession, connect, h2request, listenOn } from './client.js';

// Every pipeline feature, reached through an HTTP/2 client on http2.createServer.
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(
  ids: string[],
  options: Omit<LoadBalancerOptions, 'backends'> = {},
): Promise<{ lb: LoadBalancer; backends: TestBackend[]; session: ClientHttp2Session }> {
  const backends = ids.map((id) => createMemoryBackend({ id }));
  const lb = createLoadBalancer({ ...forwarderOptions(), backends: backends.map((b) => b.config), ...options });
  const server = await listenOn(http2.createServer({}, lb.handler));
  const session = connect(server);
  cleanup.push(
    ...backends.map((b) => () => b.close()),
    () => lb.close(),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => closeSession(session),
  );
  return { lb, backends, session };
}

const backendOf = (text: string): string => (JSON.parse(text) as { backend: string }).backend;

describe('the pipeline over HTTP/2', () => {
  it('retries an idempotent request on another backend', async () => {
    const { session, backends, lb } = await setup(['a', 'b'], { strategy: 'round-robin' });
    await backends[0]?.fail('reset');
    const events: Array<{ attempts: number; status: number }> = [];
    lb.on('request', (event) => events.push(event));
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await h2request(session, { path: `/r${i}` }));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies.map((r) => backendOf(r.text))).toEqual(['b', 'b', 'b', 'b']);
    expect(events.some((e) => e.attempts === 2 && e.status === 200)).toBe(true);
  });

  it('serves a cached response on the second GET', async () => {
    const { session, backends } = await setup(['a'], { cache: { ttl: '1m' } });
    const first = await h2request(session, { path: '/cached' });
    const second = await h2request(session, { path: '/cached' });
    expect(first.headers['x-cache']).toBe('MISS');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.text).toBe(first.text);
    expect(backends[0]?.requests).toHaveLength(1);
  });

  it('keeps a client on its sticky backend, the balancer cookie not forwarded', async () => {
    const { session, backends } = await setup(['a', 'b', 'c'], {
      sticky: { mode: 'cookie', secret: 'x'.repeat(32), cookieName: 'lb' },
    });
    const first = await h2request(session, { path: '/s' });
    const setCookie = first.headers['set-cookie']?.find((c) => c.startsWith('lb='));
    expect(setCookie).toBeDefined();
    const cookie = (setCookie as string).slice(0, (setCookie as string).indexOf(';'));
    const target = backendOf(first.text);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      // HTTP/2 may send each cookie pair as its own field (RFC 9113 §8.2.3).
      const reply = await h2request(session, { path: '/s', headers: { cookie: [cookie, 'app=1'] } });
      seen.add(backendOf(reply.text));
    }
    expect([...seen]).toEqual([target]);
    const served = backends.find((b) => b.id === target) as TestBackend;
    expect(served.requests.at(-1)?.headers.cookie).toBe('app=1');
  });

  it('answers 429 once the rate limit is spent', async () => {
    const { session } = await setup(['a'], { rateLimit: { points: 2, duration: '1m', key: 'ip' } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await h2request(session, { path: '/rl' })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('opens the breaker of a failing backend and reports it in events and metrics', async () => {
    const { session, backends, lb } = await setup(['a'], {
      retry: false,
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeout: '1m' },
    });
    backends[0]?.setStatus(503);
    const opened: string[] = [];
    const requests: Array<{ status: number; path: string }> = [];
    lb.on('breaker:open', ({ backend }) => opened.push(backend));
    lb.on('request', (event) => requests.push(event));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await h2request(session, { path: '/b' })).status);
    expect(statuses.slice(0, 2)).toEqual([503, 503]);
    expect(statuses.at(-1)).toBe(503);
    expect(opened).toEqual(['a']);
    const refused = await h2request(session, { path: '/b' });
    expect(refused.json()).toMatchObject({ error: { code: 'ERR_NO_BACKEND' } });
    expect(requests.map((r) => r.path).every((p) => p === '/b')).toBe(true);
    const metrics = (await lb.metricsRegistry?.metrics()) ?? '';
    expect(metrics).toMatch(/switchyard_requests_total\{[^}]*status_class="5xx"[^}]*\} [1-9]/);
  });
});
