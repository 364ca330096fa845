import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Fixture, serve } from './fixture.js';
import { type Listening, listen } from './helpers.js';

/**
 * Whose fault a failure is, under load: a backend that breaks off mid-body
 * is penalised; a backend that merely closes idle keep-alive sockets is not.
 * Every run has a fixed request count and ends by itself.
 */
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** One GET on `agent`: true when a whole 200 with a body arrived. */
function get(agent: http.Agent, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('error', () => resolve(false));
      res.on('end', () => resolve(res.complete && res.statusCode === 200 && bytes > 0));
    });
    req.on('error', () => resolve(false));
  });
}

/** `total` GETs, `concurrency` at a time over keep-alive client connections; a cut response counts as failed. */
async function load(port: number, total: number, concurrency: number): Promise<{ ok: number; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let issued = 0;
  const result = { ok: 0, failed: 0 };
  async function worker(): Promise<void> {
    while (issued < total) {
      const n = issued++;
      if (await get(agent, port, `/r${n}`)) result.ok++;
      else result.failed++;
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return result;
}

describe('a backend that resets mid-body (after its headers)', () => {
  for (const strategy of ['round-robin', 'p2c'] as const) {
    it(`is charged with the failures and taken out of rotation (${strategy}, 2,000 GETs, 20 at a time)`, async () => {
      const fx: Fixture = await serve([createMemoryBackend({ id: 'a' }), createMemoryBackend({ id: 'b' })], {
        strategy,
      });
      closers.push(() => fx.close());
      const errors = record(fx.lb, 'upstream:error');
      await fx.backends[1]?.fail('close-mid-body');
      const r = await load(fx.front.port, 2000, 20);
      const share = (r.failed / 2000) * 100;
      console.log(`mid-body resets, ${strategy}: ${r.failed}/2000 failed (${share.toFixed(2)}%)`);
      expect(r.ok + r.failed).toBe(2000);
      expect(share).toBeLessThan(2);
      const b = fx.lb.backends().find((s) => s.id === 'b');
      expect(b?.failures).toBeGreaterThan(0);
      // Round robin keeps sending b its turn until outlier detection or the breaker takes it out;
      // p2c, charged the failure penalty, stops choosing it almost at once.
      if (strategy === 'round-robin') expect(b?.status === 'ejected' || b?.status === 'open').toBe(true);
      else expect(b?.requests).toBeLessThan(100);
      expect(errors.some((e) => e.backend === 'b' && e.code === 'ERR_UPSTREAM_RESET')).toBe(true);
      expect(fx.lb.backends().find((s) => s.id === 'a')?.failures).toBe(0);
    }, 60_000);
  }

  it('fails its health checks: a passing status passes only with a whole body', async () => {
    const fx = await serve([createMemoryBackend({ id: 'a' }), createMemoryBackend({ id: 'b' })], {
      healthCheck: { path: '/health', interval: '20ms', unhealthyThreshold: 2, jitter: 0 },
    });
    closers.push(() => fx.close());
    const unhealthy = next(fx.lb, 'backend:unhealthy');
    const checks = next(fx.lb, 'health:check', (c) => c.backend === 'b' && !c.ok);
    await fx.backends[1]?.fail('close-mid-body');
    const [check] = await checks;
    expect(check?.reason).toMatch(/body broken off after status 200/);
    const [event] = await unhealthy;
    expect(event?.backend.id).toBe('b');
  });

  it('is not charged when the client is the one that leaves mid-body', async () => {
    const slow = createMemoryBackend({
      id: 'a',
      handler: (_req, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('x'.repeat(10));
      },
    });
    const fx = await serve([slow], { outlierDetection: { consecutive5xx: 1 } });
    closers.push(() => fx.close());
    const errors = record(fx.lb, 'upstream:error');
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: fx.front.port, path: '/', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
      });
    }
    // Let the balancer see the client's close and settle the exchanges.
    for (let i = 0; i < 20 && fx.lb.backends()[0]?.active !== 0; i++) await new Promise((r) => setImmediate(r));
    const a = fx.lb.backends()[0];
    expect(a?.status).toBe('healthy');
    expect(a?.failures).toBe(0);
    expect(errors).toEqual([]);
  }, 60_000);
});

describe('a backend that closes idle keep-alive sockets 1 ms after each response, without a hint', () => {
  it('stays healthy through 5,000 GETs at 20 concurrent with no failed request', async () => {
    const backend = http.createServer((req, res) => {
      res.on('finish', () => {
        const socket = req.socket;
        setTimeout(() => socket.destroy(), 1);
      });
      res.end('ok');
    });
    backend.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          backend.closeAllConnections();
          backend.close(() => resolve());
        }),
    );
    const port = (backend.address() as AddressInfo).port;
    const options: LoadBalancerOptions = { backends: [{ id: 'racy', url: `http://127.0.0.1:${port}` }] };
    const lb: LoadBalancer = createLoadBalancer(options);
    const front: Listening = await listen(lb.handler);
    closers.push(async () => {
      await front.close();
      await lb.close();
    });
    const bad = record(lb, 'backend:ejected');
    const opened = record(lb, 'breaker:open');
    const errors = record(lb, 'upstream:error');
    const retries = record(lb, 'retry');
    const r = await load(front.port, 5000, 20);
    console.log(`idle-socket race: ${r.failed}/5000 failed, ${retries.length} idle-race retries`);
    expect(r.failed).toBe(0);
    expect(r.ok).toBe(5000);
    const racy = lb.backends()[0];
    expect(racy?.status).toBe('healthy');
    expect(racy?.failures).toBe(0);
    expect(bad).toEqual([]);
    expect(opened).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);
});

describe('upstream:error', () => {
  it('names the socket error behind a failure (code and syscall), which the client body does not', async () => {
    const lb = createLoadBalancer({ backends: [{ id: 'gone', url: 'http://127.0.0.1:1' }], retry: false });
    const front = await listen(lb.handler);
    closers.push(async () => {
      await front.close();
      await lb.close();
    });
    const errors = record(lb, 'upstream:error');
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: front.port, path: '/', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    expect(reply.status).toBe(502);
    expect(reply.body).not.toContain('ECONNREFUSED');
    expect(errors[0]).toMatchObject({
      backend: 'gone',
      code: 'ERR_UPSTREAM_CONNECT',
      cause: 'ECONNREFUSED',
      syscall: 'connect',
    });
  });
});
