/**
 * Unit-testing a balancer setup with vitest and in-memory backends: no ports,
 * no sleeps. Run it with `npx vitest run examples/testing/vitest.test.ts`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLoadBalancer, type LoadBalancer } from 'switchyard-lb';
import { createMemoryBackend, type MemoryBackend } from 'switchyard-lb/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

let a: MemoryBackend;
let b: MemoryBackend;
let lb: LoadBalancer;
let server: http.Server;

/** Sends one GET through the balancer; resolves with status and parsed JSON body. */
async function get(path: string): Promise<{ status: number; body: { backend?: string; error?: { code: string } } }> {
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
  return { status: res.status, body: (await res.json()) as { backend?: string; error?: { code: string } } };
}

beforeEach(async () => {
  a = createMemoryBackend({ id: 'a' });
  b = createMemoryBackend({ id: 'b' });
  lb = createLoadBalancer({ backends: [a.config, b.config], strategy: 'round-robin' });
  server = http.createServer(lb.handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  server.close();
  await lb.close();
  await Promise.all([a.close(), b.close()]);
});

describe('my balancer setup', () => {
  it('spreads requests over both backends', async () => {
    await get('/one');
    await get('/two');
    expect([...a.requests, ...b.requests].map((r) => r.url).sort()).toEqual(['/one', '/two']);
    expect(a.requests).toHaveLength(1);
  });

  it('retries a GET on the other backend when one resets the connection', async () => {
    await a.fail('reset');
    const res = await get('/retry-me');
    expect(res).toMatchObject({ status: 200, body: { backend: 'b' } });
  });

  it('answers 502 ERR_UPSTREAM_CONNECT when every backend refuses connections', async () => {
    await Promise.all([a.down(), b.down()]);
    const res = await get('/');
    expect(res).toMatchObject({ status: 502, body: { error: { code: 'ERR_UPSTREAM_CONNECT' } } });
  });

  it('takes a backend that fails its health checks out of rotation (fake timers, no waiting)', async () => {
    // The balancer's clock is performance.now and its timers are setTimeout: fake both.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
    const c = createMemoryBackend({ id: 'c' });
    const checked = createLoadBalancer({
      backends: [c.config],
      healthCheck: { interval: '1s', timeout: '500ms', jitter: 0, unhealthyThreshold: 2 },
    });
    try {
      c.setStatus(503);
      const unhealthy = new Promise((resolve) => checked.once('backend:unhealthy', resolve));
      await vi.advanceTimersByTimeAsync(2_500); // two failed checks, a second apart
      await unhealthy;
      expect(checked.backends()[0]?.status).toBe('unhealthy');
    } finally {
      vi.useRealTimers();
      await checked.close();
      await c.close();
    }
  });
});
