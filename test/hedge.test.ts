import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoadBalancer, LoadBalancerOptions, SwitchyardEvents } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { type Fixture, serve } from './fixture.js';
import { request, until } from './helpers.js';

interface Rig extends Fixture {
  a: MemoryBackend;
  b: MemoryBackend;
  hedges: SwitchyardEvents['hedge'][];
  errors: SwitchyardEvents['upstream:error'][];
}

let rig: Rig | undefined;

async function build(options: Omit<LoadBalancerOptions, 'backends'> = {}): Promise<Rig> {
  const a = createMemoryBackend({ id: 'a' });
  const b = createMemoryBackend({ id: 'b' });
  const fixture = await serve([a, b], { hedge: { delay: 50 }, ...options });
  const hedges: SwitchyardEvents['hedge'][] = [];
  const errors: SwitchyardEvents['upstream:error'][] = [];
  fixture.lb.on('hedge', (e) => hedges.push(e));
  fixture.lb.on('upstream:error', (e) => errors.push(e));
  rig = { ...fixture, a, b, hedges, errors };
  return rig;
}

afterEach(async () => {
  vi.useRealTimers();
  await rig?.close();
  rig = undefined;
});

function hedged(lb: LoadBalancer): Promise<SwitchyardEvents['hedge']> {
  return new Promise((resolve) => lb.once('hedge', resolve));
}

describe('hedging', () => {
  it("returns the faster backend's answer and cancels the slow attempt", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { lb, front, a, b, hedges, errors } = await build();
    a.setLatency('10s');
    const pending = request(front.port, { path: '/slow' });
    const hedge = hedged(lb);
    await until(() => a.requests.length === 1);
    await vi.advanceTimersByTimeAsync(50);
    await hedge;
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'b', url: '/slow' });
    expect(hedges).toEqual([{ backend: 'b', attempt: 2 }]);
    // The slow attempt's upstream request is gone: its connection closed, its slot released, no error counted.
    await until(() => a.openConnections === 0);
    expect(lb.backends().map((s) => [s.id, s.active, s.failures])).toEqual([
      ['a', 0, 0],
      ['b', 0, 0],
    ]);
    expect(errors).toEqual([]);
    expect(b.requests).toHaveLength(1);
  });

  it('sends no hedge when the first answer comes within the delay', async () => {
    const { front, hedges, b } = await build({ hedge: { delay: '5s' } });
    const reply = await request(front.port);
    expect(reply.json()).toMatchObject({ backend: 'a' });
    expect(hedges).toEqual([]);
    expect(b.requests).toHaveLength(0);
  });

  it('keeps the original when the hedge fails', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { lb, front, a, b } = await build();
    a.setLatency(200);
    await b.fail('reset');
    const pending = request(front.port);
    await until(() => a.requests.length === 1);
    const hedge = hedged(lb);
    await vi.advanceTimersByTimeAsync(50);
    await hedge;
    await until(() => b.requests.length === 1);
    await vi.advanceTimersByTimeAsync(150);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'a' });
  });

  it('retries on another backend when the first attempt fails before the delay', async () => {
    const { front, a, hedges } = await build();
    await a.fail('reset');
    const reply = await request(front.port);
    expect(reply.json()).toMatchObject({ backend: 'b' });
    expect(hedges).toEqual([]);
  });

  it('never hedges a POST or a body that streams past the buffer limit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { front, a, b, hedges } = await build({ retry: { maxBufferBytes: 16 } });
    a.setLatency(500);
    const post = request(front.port, { method: 'POST', body: 'order' });
    await until(() => a.requests.length === 1);
    await vi.advanceTimersByTimeAsync(500);
    expect((await post).json()).toMatchObject({ backend: 'a' });
    b.setLatency(500);
    const put = request(front.port, { method: 'PUT', body: 'x'.repeat(1000) });
    await until(() => b.requests.length === 1);
    await vi.advanceTimersByTimeAsync(500);
    expect((await put).json()).toMatchObject({ backend: 'b' });
    expect(hedges).toEqual([]);
  });

  it('hedges a PUT with a buffered body, replayed whole to the second backend', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { lb, front, a, b } = await build();
    a.setLatency('10s');
    const pending = request(front.port, { method: 'PUT', body: 'payload' });
    await until(() => a.requests.length === 1);
    const hedge = hedged(lb);
    await vi.advanceTimersByTimeAsync(50);
    await hedge;
    expect((await pending).json()).toMatchObject({ backend: 'b' });
    expect(a.requests[0]?.headers['content-length']).toBe('7');
    expect(b.requests[0]?.body.toString()).toBe('payload');
    expect(b.requests[0]?.headers['content-length']).toBe('7');
  });

  it('charges hedges to the retry budget', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { front, a, b, hedges } = await build({
      retry: { budget: { percent: 0, minRetriesPerSecond: 1, ttl: '1s' } },
      now: () => 0,
    });
    a.setLatency(300);
    b.setLatency(300);
    // The reserve allows one hedge in the window; the second request gets none.
    for (let i = 0; i < 2; i++) {
      const pending = request(front.port);
      await until(() => a.requests.length + b.requests.length > 2 * i);
      await vi.advanceTimersByTimeAsync(300);
      expect((await pending).status).toBe(200);
    }
    expect(hedges).toHaveLength(1);
  });

  it('answers 504 ERR_DEADLINE when every attempt is slower than timeouts.total', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { lb, front, a, b } = await build({ timeouts: { total: 200 } });
    a.setLatency('10s');
    b.setLatency('10s');
    const pending = request(front.port);
    await until(() => a.requests.length === 1);
    const hedge = hedged(lb);
    await vi.advanceTimersByTimeAsync(50);
    await hedge;
    await vi.advanceTimersByTimeAsync(150);
    const reply = await pending;
    expect(reply.status).toBe(504);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_DEADLINE' } });
    await until(() => lb.backends().every((s) => s.active === 0));
  });
});

describe('hedging and client aborts', () => {
  it('cancels every attempt and releases every backend when the client leaves', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { lb, front, a, b } = await build();
    a.setLatency('10s');
    b.setLatency('10s');
    const client = http.request({ host: '127.0.0.1', port: front.port, path: '/', agent: false });
    client.on('error', () => {});
    client.end();
    await until(() => a.requests.length === 1);
    const hedge = hedged(lb);
    await vi.advanceTimersByTimeAsync(50);
    await hedge;
    await until(() => b.requests.length === 1);
    const finished = new Promise<SwitchyardEvents['request']>((resolve) => lb.once('request', resolve));
    client.destroy();
    expect(await finished).toMatchObject({ status: 499, attempts: 2 });
    await until(() => a.openConnections === 0 && b.openConnections === 0);
    expect(lb.backends().map((s) => s.active)).toEqual([0, 0]);
  });
});
