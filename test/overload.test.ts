import http from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { LoadBalancer, LoadBalancerOptions, SwitchyardEvents } from '../src/index.js';
import { type BackendHandler, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import type { ConcurrencyLimiter } from '../src/upstream/overload/limiter.js';
import { closeAfterEach, type Fixture, serve } from './fixture.js';
import { request, until } from './helpers.js';

const track = closeAfterEach();

/**
 * A backend that holds every request until `release()` and counts how many it
 * holds at once.
 */
function gated(id: string) {
  const held: http.ServerResponse[] = [];
  let peak = 0;
  const handler: BackendHandler = (req, res) => {
    req.resume();
    held.push(res);
    peak = Math.max(peak, held.length);
  };
  return {
    backend: createMemoryBackend({ id, handler }),
    get held() {
      return held.length;
    },
    get peak() {
      return peak;
    },
    release() {
      held.shift()?.end(id);
    },
  };
}

async function build(
  backends: MemoryBackend[],
  maxConnections: number | undefined,
  options: Omit<LoadBalancerOptions, 'backends'> = {},
): Promise<Fixture & { backends: MemoryBackend[] }> {
  return track(
    await serve(backends, options, (b) => ({
      ...b.config,
      ...(maxConnections ? { maxConnections } : {}),
    })),
  );
}

function queueLog(lb: LoadBalancer): SwitchyardEvents['queue'][] {
  const log: SwitchyardEvents['queue'][] = [];
  lb.on('queue', (e) => log.push(e));
  return log;
}

function next(lb: LoadBalancer, action: SwitchyardEvents['queue']['action']): Promise<void> {
  return new Promise((resolve) => {
    const listener = (e: SwitchyardEvents['queue']) => {
      if (e.action !== action) return;
      lb.off('queue', listener);
      resolve();
    };
    lb.on('queue', listener);
  });
}

describe('wait queue', () => {
  it('queues a request while every backend is at maxConnections and serves it when a slot frees', async () => {
    const g = gated('a');
    const { lb, front } = await build([g.backend], 1);
    const log = queueLog(lb);
    const first = request(front.port, { path: '/1' });
    await until(() => g.held === 1);
    const queued = next(lb, 'enqueued');
    const second = request(front.port, { path: '/2' });
    await queued;
    expect(g.held).toBe(1);
    g.release();
    expect((await first).status).toBe(200);
    await until(() => g.held === 1);
    g.release();
    expect((await second).status).toBe(200);
    expect(g.peak).toBe(1);
    expect(log).toEqual([
      { action: 'enqueued', depth: 1 },
      { action: 'dequeued', depth: 0 },
    ]);
  });

  it('answers 503 ERR_QUEUE_FULL when the queue is full', async () => {
    const g = gated('a');
    const { lb, front } = await build([g.backend], 1, { queue: { maxSize: 1, timeout: '5s' } });
    const first = request(front.port);
    await until(() => g.held === 1);
    const queued = next(lb, 'enqueued');
    const second = request(front.port);
    await queued;
    const third = await request(front.port);
    expect(third.status).toBe(503);
    expect(third.json()).toMatchObject({ error: { code: 'ERR_QUEUE_FULL' } });
    g.release();
    await until(() => g.held === 1);
    g.release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it('answers 503 ERR_QUEUE_TIMEOUT when no slot frees in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const g = gated('a');
    const { lb, front } = await build([g.backend], 1, { queue: { maxSize: 10, timeout: 200 } });
    const first = request(front.port);
    await until(() => g.held === 1);
    const queued = next(lb, 'enqueued');
    const second = request(front.port);
    await queued;
    await vi.advanceTimersByTimeAsync(200);
    const reply = await second;
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_QUEUE_TIMEOUT' } });
    g.release();
    expect((await first).status).toBe(200);
  });

  it('frees the queue place of a client that aborts while queued', async () => {
    const g = gated('a');
    const { lb, front } = await build([g.backend], 1, { queue: { maxSize: 1, timeout: '5s' } });
    const log = queueLog(lb);
    const first = request(front.port);
    await until(() => g.held === 1);
    const queued = next(lb, 'enqueued');
    const client = http.request({ host: '127.0.0.1', port: front.port, path: '/gone', agent: false });
    client.on('error', () => {});
    client.end();
    await queued;
    const aborted = next(lb, 'aborted');
    client.destroy();
    await aborted;
    expect(log.at(-1)).toEqual({ action: 'aborted', depth: 0 });
    // The place is free: a new request queues instead of ERR_QUEUE_FULL, and is served.
    const enqueued = next(lb, 'enqueued');
    const third = request(front.port, { path: '/3' });
    await enqueued;
    g.release();
    await until(() => g.held === 1);
    g.release();
    expect((await first).status).toBe(200);
    expect((await third).status).toBe(200);
    expect(g.backend.requests.map((r) => r.url)).toEqual(['/', '/3']);
    expect(lb.backends()[0]?.active).toBe(0);
  });

  it('answers 503 ERR_NO_BACKEND at once with queue: false', async () => {
    const g = gated('a');
    const { front } = await build([g.backend], 1, { queue: false });
    const first = request(front.port);
    await until(() => g.held === 1);
    const reply = await request(front.port);
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_NO_BACKEND' } });
    g.release();
    await first;
  });

  it('wakes a queued request when a backend limit is raised', async () => {
    const g = gated('a');
    const { lb, front } = await build([g.backend], 1);
    const first = request(front.port);
    await until(() => g.held === 1);
    const queued = next(lb, 'enqueued');
    const second = request(front.port);
    await queued;
    lb.updateBackend('a', { maxConnections: 2 });
    await until(() => g.held === 2);
    g.release();
    g.release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });
});

describe('adaptive concurrency', () => {
  it('caps a backend at the limit its limiter reports and emits limit:changed', async () => {
    const limits: ConcurrencyLimiter[] = [];
    let next = 1;
    const stepwise = (): ConcurrencyLimiter => {
      const limiter: ConcurrencyLimiter = {
        get limit() {
          return next;
        },
        update() {},
      };
      limits.push(limiter);
      return limiter;
    };
    const g = gated('a');
    const { lb, front } = await build([g.backend], undefined, { adaptiveConcurrency: { algorithm: stepwise } });
    const changes: SwitchyardEvents['limit:changed'][] = [];
    lb.on('limit:changed', (e) => changes.push(e));
    const pending = [request(front.port), request(front.port), request(front.port)];
    await until(() => g.held === 1);
    expect(lb.backends()[0]?.active).toBe(1);
    next = 3; // the next sample raises the limit: queued requests are woken
    g.release();
    await until(() => g.held === 2);
    g.release();
    g.release();
    for (const reply of await Promise.all(pending)) expect(reply.status).toBe(200);
    expect(g.peak).toBe(2);
    expect(changes).toEqual([{ backend: 'a', limit: 3, previous: 1 }]);
    expect(limits).toHaveLength(1);
  });

  it('grows the gradient2 limit while latency stays steady and the limit is in use', async () => {
    // Deterministic: the balancer's clock stands still (every round trip measures the same, 0 ms), and the
    // backend holds each batch until as many requests as the limit lets through are in flight, then answers
    // them together, so every sample sees the limit in use whatever the machine's load.
    const held: (() => void)[] = [];
    let limit = 4;
    let unanswered = 0;
    const releaseWhenFull = () => {
      if (held.length === 0 || held.length < Math.min(limit, unanswered)) return;
      unanswered -= held.length;
      for (const answer of held.splice(0)) answer();
    };
    const a = createMemoryBackend({
      id: 'a',
      handler: (_req, res) => {
        held.push(() => res.end('ok'));
        releaseWhenFull();
      },
    });
    const { lb, front } = await build([a], undefined, {
      adaptiveConcurrency: { algorithm: 'gradient2', initialLimit: 4, minLimit: 1, maxLimit: 50 },
      now: () => 1_000,
    });
    const changes: SwitchyardEvents['limit:changed'][] = [];
    lb.on('limit:changed', (e) => {
      changes.push(e);
      limit = e.limit;
      releaseWhenFull();
    });
    for (let wave = 0; wave < 4; wave++) {
      unanswered = 12;
      const replies = await Promise.all(Array.from({ length: 12 }, () => request(front.port)));
      expect(replies.every((r) => r.status === 200)).toBe(true);
    }
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.limit > c.previous)).toBe(true);
    expect(changes.at(-1)?.limit).toBeGreaterThanOrEqual(8);
  });
});
