import { EventEmitter } from 'node:events';
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backend } from '../../core/backend.js';
import { Context } from '../../core/context.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import { WaitQueue } from './wait-queue.js';

function backend(id: string, maxConnections = 1): Backend {
  return new Backend({ id, url: new URL(`http://${id}`), weight: 1, maxConnections, agent: new Agent() });
}

function context(): Context & { abortClient(): void } {
  const res = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
  const ctx = new Context(
    { method: 'GET', headers: {} } as IncomingMessage,
    res as unknown as ServerResponse,
    '/',
    '::1',
    0,
  );
  return Object.assign(ctx, {
    abortClient() {
      res.destroyed = true;
      res.emit('close');
    },
  });
}

let clock = 0;
let events: Events;
let log: SwitchyardEvents['queue'][];
let pool: Backend[];

function queue(maxSize = 10, timeout = 1000): WaitQueue {
  return new WaitQueue({ maxSize, timeout }, { events, now: () => clock, available: () => pool });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  clock = 0;
  events = new Events();
  log = [];
  events.on('queue', (e) => log.push(e));
  pool = [];
});

afterEach(() => {
  vi.useRealTimers();
});

describe('WaitQueue', () => {
  it('hands a released slot to the oldest waiter first', async () => {
    const a = backend('a');
    pool = [a];
    a.begin();
    const q = queue();
    const order: number[] = [];
    const first = q.wait(context()).then(() => order.push(1));
    const second = q.wait(context()).then(() => order.push(2));
    expect(q.size).toBe(2);
    a.release();
    q.offer(a);
    await first;
    expect(order).toEqual([1]);
    q.offer(a);
    await second;
    expect(order).toEqual([1, 2]);
    expect(log.map((e) => e.action)).toEqual(['enqueued', 'enqueued', 'dequeued', 'dequeued']);
  });

  it('skips a waiter that already tried the backend that freed a slot', async () => {
    const a = backend('a');
    a.begin();
    const q = queue();
    const tried = context();
    tried.tried.add(a);
    let woke = false;
    void q.wait(tried).then(() => {
      woke = true;
    });
    const other = q.wait(context());
    a.release();
    q.offer(a);
    await other;
    expect(woke).toBe(false);
    expect(q.size).toBe(1);
  });

  it('refuses with ERR_QUEUE_FULL beyond maxSize', async () => {
    const q = queue(1);
    void q.wait(context());
    await expect(q.wait(context())).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL', status: 503 });
    expect(log.at(-1)).toEqual({ action: 'rejected', depth: 1 });
  });

  it('times out with ERR_QUEUE_TIMEOUT and leaves the queue', async () => {
    const q = queue(10, 200);
    const waiting = q.wait(context());
    const settled = expect(waiting).rejects.toMatchObject({ code: 'ERR_QUEUE_TIMEOUT', status: 503 });
    vi.advanceTimersByTime(199);
    expect(q.size).toBe(1);
    vi.advanceTimersByTime(1);
    await settled;
    expect(q.size).toBe(0);
    expect(log.at(-1)).toEqual({ action: 'timeout', depth: 0 });
  });

  it('ends the wait with ERR_DEADLINE when the request deadline comes first', async () => {
    const q = queue(10, 1000);
    const ctx = context();
    ctx.deadline = 50;
    const settled = expect(q.wait(ctx)).rejects.toMatchObject({ code: 'ERR_DEADLINE', status: 504 });
    vi.advanceTimersByTime(50);
    await settled;
  });

  it('frees the place of a client that goes away, timer and listener included', async () => {
    const q = queue(1, 1000);
    const ctx = context();
    const waiting = q.wait(ctx);
    ctx.abortClient();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_CLIENT_ABORTED' });
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(log.at(-1)).toEqual({ action: 'aborted', depth: 0 });
    // The freed place takes a new request.
    void q.wait(context());
    expect(q.size).toBe(1);
  });

  it('cancels a forked attempt waiting for a slot with ERR_CANCELLED', async () => {
    const q = queue();
    const child = context().fork();
    const waiting = q.wait(child);
    child.cancel();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    expect(q.size).toBe(0);
  });

  it('wakes one waiter per free slot when capacity appears', async () => {
    const a = backend('a', 2);
    const b = backend('b', 1);
    a.begin();
    a.begin();
    b.begin();
    pool = [a, b];
    const q = queue();
    let woken = 0;
    for (let i = 0; i < 5; i++) void q.wait(context()).then(() => woken++);
    a.maxConnections = 4; // two more slots on a
    b.release(); // one on b
    q.wake();
    await Promise.resolve();
    expect(woken).toBe(3);
    expect(q.size).toBe(2);
  });

  it('keeps the place of a waiter that waits again', async () => {
    const a = backend('a');
    pool = [a];
    a.begin();
    const q = queue();
    const first = context();
    const w1 = q.wait(first);
    void q.wait(context());
    a.release();
    q.offer(a);
    const waiter = await w1;
    // Someone else took the slot: wait again, at the front.
    a.begin();
    const again = q.wait(first, waiter);
    a.release();
    q.offer(a);
    await expect(again).resolves.toBe(waiter);
    expect(q.size).toBe(1);
  });

  it('rejects every waiter with ERR_CLOSED on close', async () => {
    const q = queue();
    const waiting = [q.wait(context()), q.wait(context())];
    q.close();
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
