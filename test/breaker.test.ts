import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { LoadBalancer, LoadBalancerOptions, Middleware } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { next, record } from './events.js';
import { type Fixture, serve, setup } from './fixture.js';
import { request, useFakeClock } from './helpers.js';

let fx: Fixture | undefined;
const cleanup: Array<() => Promise<unknown>> = [];

useFakeClock(async () => {
  await fx?.close();
  fx = undefined;
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Only the breakers: no retries or outlier ejections muddying who saw what. */
const ISOLATED: Omit<LoadBalancerOptions, 'backends'> = { retry: false, outlierDetection: false };
const BREAKER = { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: 1000 } as const;

async function send(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = (await request(port)).json<{ backend?: string; error?: { code: string } }>();
    out.push(body.backend ?? body.error?.code ?? '?');
  }
  return out;
}

function statusOf(lb: LoadBalancer, id: string) {
  return lb.backends().find((b) => b.id === id)?.status;
}

describe('circuit breakers', () => {
  it('opens after the error threshold, keeps traffic away while open, and closes after a good probe', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: BREAKER });
    const { lb } = fx;
    const events: string[] = [];
    for (const name of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) {
      lb.on(name, ({ backend }) => events.push(`${name}:${backend}`));
    }
    const a = fx.backends[0]!;
    a.setStatus(500);
    // Three failures are below volumeThreshold (4): still closed.
    expect(await send(fx.front.port, 6)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(events).toEqual([]);
    await send(fx.front.port, 1);
    expect(events).toEqual(['breaker:open:a']);
    expect(statusOf(lb, 'a')).toBe('open');

    a.clearRequests();
    expect(await send(fx.front.port, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    expect(a.requests).toEqual([]);

    // After resetTimeout one probe goes in; it fails, so the breaker opens again.
    await vi.advanceTimersByTimeAsync(1000);
    expect(events.at(-1)).toBe('breaker:half-open:a');
    expect((await send(fx.front.port, 4)).filter((id) => id === 'a')).toHaveLength(1);
    expect(events.at(-1)).toBe('breaker:open:a');
    expect(a.requests).toHaveLength(1);

    a.setStatus(null);
    await vi.advanceTimersByTimeAsync(1000);
    const ids = await send(fx.front.port, 4);
    expect(ids.sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(events).toEqual([
      'breaker:open:a',
      'breaker:half-open:a',
      'breaker:open:a',
      'breaker:half-open:a',
      'breaker:close:a',
    ]);
    expect(statusOf(lb, 'a')).toBe('healthy');
  });

  it('lets a backend that was down back in at its first passing check, not after resetTimeout', async () => {
    // The chaos run's case: killed for 3 s, its breaker open for 30 s more, the pool near panic.
    fx = await setup(['a', 'b'], {
      ...ISOLATED,
      circuitBreaker: { ...BREAKER, resetTimeout: '30s' },
      healthCheck: { interval: 1000, unhealthyThreshold: 3, jitter: 0 },
    });
    const { lb } = fx;
    const events: string[] = [];
    for (const name of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) {
      lb.on(name, ({ backend }) => events.push(`${name}:${backend}`));
    }
    await vi.advanceTimersByTimeAsync(0);
    const a = fx.backends[0]!;
    a.setStatus(500);
    await send(fx.front.port, 8);
    expect(events).toEqual(['breaker:open:a']);
    const openedAt = Date.now();
    // Its checks fail too while it is broken: the breaker keeps waiting.
    await vi.advanceTimersByTimeAsync(1000);
    expect(statusOf(lb, 'a')).toBe('open');
    a.setStatus(null);
    await vi.advanceTimersByTimeAsync(1000);
    expect(events).toEqual(['breaker:open:a', 'breaker:half-open:a']);
    expect(Date.now() - openedAt).toBeLessThan(30_000);
    expect((await send(fx.front.port, 4)).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(events).toEqual(['breaker:open:a', 'breaker:half-open:a', 'breaker:close:a']);
  });

  it('admits only halfOpenProbes at once and closes after successThreshold good probes', async () => {
    let hold = false;
    const held: Array<() => void> = [];
    let arrived = 0;
    let onArrivals: (() => void) | undefined;
    const handler = (id: string) => (req: IncomingMessage, res: ServerResponse) => {
      const answer = () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ backend: id }));
      req.resume();
      if (hold && id === 'a') held.push(answer);
      else answer();
      if (hold && ++arrived === 10) onArrivals?.();
    };
    const a = createMemoryBackend({ id: 'a', handler: handler('a') });
    const b = createMemoryBackend({ id: 'b', handler: handler('b') });
    fx = await serve([a, b], { ...ISOLATED, circuitBreaker: { ...BREAKER, halfOpenProbes: 2, successThreshold: 3 } });
    const { lb, front } = fx;
    await a.fail('reset');
    await send(front.port, 8);
    expect(statusOf(lb, 'a')).toBe('open');
    await a.fail(null);
    await vi.advanceTimersByTimeAsync(1000);

    // Ten requests at once, a's answers held: round-robin alone would give a five; the breaker lets two probes in.
    a.clearRequests();
    hold = true;
    const allArrived = new Promise<void>((resolve) => {
      onArrivals = resolve;
    });
    const replies = Array.from({ length: 10 }, () => request(front.port));
    await allArrived;
    expect(held).toHaveLength(2);
    expect(a.requests).toHaveLength(2);
    expect(statusOf(lb, 'a')).toBe('open');
    hold = false;
    const closes = record(lb, 'breaker:close');
    for (const answer of held.splice(0)) answer();
    const ids = (await Promise.all(replies)).map((r) => r.json<{ backend: string }>().backend);
    expect(ids.filter((id) => id === 'a')).toHaveLength(2);

    // Two good probes of three: still half-open, and eligible for the third.
    expect(closes).toEqual([]);
    expect(statusOf(lb, 'a')).toBe('healthy');
    expect((await send(front.port, 2)).sort()).toEqual(['a', 'b']);
    expect(closes.map((e) => e.backend)).toEqual(['a']);
    expect((await send(front.port, 4)).sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('retries on another backend when an attempt meets an open breaker', async () => {
    let aRef: unknown;
    const pin: Middleware = async function pin(ctx, next) {
      if (ctx.backend?.id === 'a') aRef = ctx.backend;
      // A stale choice: send the first attempt to a, whose breaker is open.
      else if (aRef && ctx.attempt === 1 && ctx.req.headers['x-pin']) {
        ctx.backend = aRef as typeof ctx.backend;
        ctx.tried.add(aRef as NonNullable<typeof ctx.backend>);
      }
      await next();
    };
    fx = await setup(['a', 'b', 'c'], {
      outlierDetection: false,
      // Timers are fake here: retry at once rather than after a jittered backoff.
      retry: { backoff: () => 0 },
      circuitBreaker: BREAKER,
      middleware: [{ name: 'pin', before: 'circuit-breaker', handle: pin }],
    });
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 12);
    expect(statusOf(fx.lb, 'a')).toBe('open');
    const done = next(fx.lb, 'request');
    const reply = await request(fx.front.port, { headers: { 'x-pin': '1' } });
    expect(reply.status).toBe(200);
    const [event] = await done;
    expect(event).toMatchObject({ attempts: 2, status: 200 });
    expect(event?.backend).not.toBe('a');
  });

  it('answers 503 ERR_BREAKER_OPEN when such an attempt cannot be retried', async () => {
    let aRef: unknown;
    const pin: Middleware = async function pin(ctx, next) {
      if (ctx.backend?.id === 'a') aRef = ctx.backend;
      else if (aRef && ctx.req.headers['x-pin']) ctx.backend = aRef as typeof ctx.backend;
      await next();
    };
    fx = await setup(['a', 'b'], {
      ...ISOLATED,
      circuitBreaker: BREAKER,
      middleware: [{ name: 'pin', before: 'circuit-breaker', handle: pin }],
    });
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 8);
    const reply = await request(fx.front.port, { headers: { 'x-pin': '1' } });
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_BREAKER_OPEN' } });
  });

  it('counts resets, refused connections and malformed answers as failures', async () => {
    fx = await setup(['a', 'b', 'c', 'd'], { ...ISOLATED, circuitBreaker: BREAKER });
    const opened = record(fx.lb, 'breaker:open');
    await fx.backends[0]!.fail('reset');
    await fx.backends[1]!.fail('refuse');
    await fx.backends[2]!.fail('garbage');
    await send(fx.front.port, 16);
    expect(opened.map((e) => e.backend).sort()).toEqual(['a', 'b', 'c']);
  });

  it('counts only failureStatuses among answers, and never 4xx by default', async () => {
    fx = await setup(['a', 'b', 'c'], { ...ISOLATED, circuitBreaker: { ...BREAKER, failureStatuses: [503, 504] } });
    const opened = record(fx.lb, 'breaker:open');
    fx.backends[0]!.setStatus(500);
    fx.backends[1]!.setStatus(404);
    fx.backends[2]!.setStatus(503);
    await send(fx.front.port, 15);
    expect(opened.map((e) => e.backend)).toEqual(['c']);
  });

  it('needs more than errorThresholdPercentage failures in the window', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: { ...BREAKER, volumeThreshold: 4 } });
    const opened = record(fx.lb, 'breaker:open');
    const a = fx.backends[0]!;
    // a alternates good and bad answers: 50% failures, not more.
    for (let i = 0; i < 6; i++) {
      a.setStatus(i % 2 === 0 ? null : 500);
      await send(fx.front.port, 2);
    }
    expect(opened).toEqual([]);
    a.setStatus(500);
    await send(fx.front.port, 2);
    expect(opened.map((e) => e.backend)).toEqual(['a']);
  });

  it('starts a fresh window on close, so one failure does not reopen it', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: { ...BREAKER, rollingCountTimeout: '60s' } });
    const opened = record(fx.lb, 'breaker:open');
    const a = fx.backends[0]!;
    a.setStatus(500);
    await send(fx.front.port, 8);
    a.setStatus(null);
    await vi.advanceTimersByTimeAsync(1000);
    await send(fx.front.port, 2);
    expect(statusOf(fx.lb, 'a')).toBe('healthy');
    a.setStatus(500);
    await send(fx.front.port, 2);
    expect(opened).toHaveLength(1);
    expect(statusOf(fx.lb, 'a')).toBe('healthy');
  });

  it('is a pipeline stage that configure() can retune, remove and restore', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: BREAKER });
    expect(fx.lb.pipeline).toContain('circuit-breaker');
    const closedEvents = record(fx.lb, 'breaker:close');
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 8);
    expect(statusOf(fx.lb, 'a')).toBe('open');

    fx.lb.configure({ circuitBreaker: false });
    expect(fx.lb.pipeline).not.toContain('circuit-breaker');
    expect(closedEvents.map((e) => e.backend)).toEqual(['a']);
    expect(await send(fx.front.port, 2)).toEqual(['a', 'b']);

    fx.lb.configure({ circuitBreaker: { volumeThreshold: 2 } });
    expect(fx.lb.pipeline).toContain('circuit-breaker');
    expect(fx.lb.config.circuitBreaker).toMatchObject({ volumeThreshold: 2, resetTimeout: 30_000 });
    await send(fx.front.port, 4);
    expect(statusOf(fx.lb, 'a')).toBe('open');
  });

  it('keeps an open breaker open when its settings change', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: BREAKER });
    const opened = record(fx.lb, 'breaker:open');
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 8);
    fx.lb.configure({ circuitBreaker: { resetTimeout: 5000 } });
    expect(statusOf(fx.lb, 'a')).toBe('open');
    expect(opened).toHaveLength(1);
    const halfOpen = record(fx.lb, 'breaker:half-open');
    await vi.advanceTimersByTimeAsync(4999);
    expect(halfOpen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(halfOpen.map((e) => e.backend)).toEqual(['a']);
  });

  it('gives added backends a breaker and leaves no timer behind on close', async () => {
    const b: MemoryBackend = createMemoryBackend({ id: 'b' });
    cleanup.push(() => b.close());
    fx = await serve([createMemoryBackend({ id: 'a' })], { ...ISOLATED, circuitBreaker: BREAKER });
    const { lb, front } = fx;
    lb.addBackend(b.config);
    b.setStatus(500);
    const opened = next(lb, 'breaker:open');
    await send(front.port, 8);
    expect((await opened)[0]?.backend).toBe('b');
    await lb.removeBackend('b');
    // Front, balancer and a; then b. The backends' own keep-alive timers go with them.
    await fx.close();
    fx = undefined;
    await b.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is off with circuitBreaker: false', async () => {
    fx = await setup(['a', 'b'], { ...ISOLATED, circuitBreaker: false });
    expect(fx.lb.pipeline).not.toContain('circuit-breaker');
    const opened = record(fx.lb, 'breaker:open');
    fx.backends[0]!.setStatus(500);
    await send(fx.front.port, 40);
    expect(opened).toEqual([]);
  });
});
