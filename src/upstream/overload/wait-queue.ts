import type { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import { makeError, type SwitchyardError } from '../../core/errors.js';
import type { Events } from '../../core/events.js';
import { clientGone } from '../../core/net/http2-compat.js';
import type { ResolvedQueueOptions } from './options.js';

/**
 * One request waiting for a slot. Kept across spurious wake-ups so it keeps its place and its deadline.
 *
 * @example
 * ```ts
 * declare const queue: import('./wait-queue.js').WaitQueue;
 * declare const noSlotAfterAll: boolean; // the slot went to another
 * let waiter = await queue.wait(ctx);
 * if (noSlotAfterAll) waiter = await queue.wait(ctx, waiter); // same place in line
 * ```
 */
export class Waiter {
  readonly seq: number;
  readonly ctx: Context;
  /** Balancer clock time the wait ends. */
  readonly expiresAt: number;
  /** The request's own deadline, not the queue timeout, ends the wait. */
  readonly deadlineBound: boolean;
  resolve: (waiter: Waiter) => void = noop;
  reject: (error: SwitchyardError) => void = noop;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;

  constructor(seq: number, ctx: Context, expiresAt: number, deadlineBound: boolean) {
    this.seq = seq;
    this.ctx = ctx;
    this.expiresAt = expiresAt;
    this.deadlineBound = deadlineBound;
  }
}

function noop(): void {}

/**
 * The wait queue of HAProxy's `maxconn` + `timeout queue`, shared by all
 * backends: a request that finds every eligible backend at its limit waits
 * here, first in first out. When a backend releases a slot, the oldest waiter
 * that may use that backend (not already tried by it) is woken; when capacity
 * appears elsewhere (a limit raised, a backend added or back in service),
 * as many waiters as there are free slots are woken. A woken request selects
 * again through the strategy; if another took the slot meanwhile, it waits
 * again in its old place.
 *
 * @example
 * ```ts
 * import { WaitQueue } from './wait-queue.js';
 * const queue = new WaitQueue({ maxSize: 100, timeout: 5000 }, { events, now, available: (t) => pool.candidates(new Set(), t) });
 * const waiter = await queue.wait(ctx); // rejects with ERR_QUEUE_FULL / ERR_QUEUE_TIMEOUT / ERR_DEADLINE / ERR_CLIENT_ABORTED
 * ```
 */
export class WaitQueue {
  readonly #options: ResolvedQueueOptions;
  readonly #events: Events;
  readonly #now: () => number;
  readonly #available: (now: number) => readonly Backend[];
  /** Ordered by `seq`: the oldest first. */
  readonly #waiters: Waiter[] = [];
  #seq = 0;

  constructor(
    options: ResolvedQueueOptions,
    deps: { events: Events; now: () => number; available: (now: number) => readonly Backend[] },
  ) {
    this.#options = options;
    this.#events = deps.events;
    this.#now = deps.now;
    this.#available = deps.available;
  }

  /** Requests waiting now. */
  get size(): number {
    return this.#waiters.length;
  }

  /**
   * Waits until a slot may be free for `ctx`. Pass the waiter this resolved
   * with last time to wait again in the same place after a slot was taken.
   */
  wait(ctx: Context, again?: Waiter): Promise<Waiter> {
    let waiter = again;
    const now = this.#now();
    if (!waiter) {
      if (this.#waiters.length >= this.#options.maxSize) {
        this.#emit('rejected');
        return Promise.reject(
          makeError(
            'ERR_QUEUE_FULL',
            `every eligible backend is at its connection limit and ${this.#options.maxSize} requests already wait`,
          ),
        );
      }
      const byTimeout = now + this.#options.timeout;
      const deadlineBound = ctx.deadline < byTimeout;
      waiter = new Waiter(this.#seq++, ctx, deadlineBound ? ctx.deadline : byTimeout, deadlineBound);
    }
    const w = waiter;
    const signal = ctx.signal;
    if (signal.aborted) return Promise.reject(abortError(ctx));
    this.#insert(w);
    // Also on a wait again (its slot was taken): every `dequeued` has its `enqueued`, so depth gauges stay true.
    this.#emit('enqueued');
    return new Promise<Waiter>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
      w.timer = setTimeout(onTimeout, Math.max(0, w.expiresAt - now), this, w);
      w.onAbort = () => this.#leave(w, 'aborted', abortError(ctx));
      signal.addEventListener('abort', w.onAbort, { once: true });
    });
  }

  /** `backend` released a slot: hand it to the oldest waiter that may use it. */
  offer(backend: Backend): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    if (backend.active >= backend.capacity || !backend.isAvailable(this.#now())) return;
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i] as Waiter;
      if (!waiter.ctx.tried.has(backend)) {
        this.#grant(i);
        return;
      }
    }
  }

  /** Capacity may have appeared anywhere: wake one waiter per free slot, oldest first. */
  wake(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    const spare = new Map<Backend, number>();
    for (const backend of this.#available(this.#now())) {
      const free = backend.capacity - backend.active;
      if (free > 0) spare.set(backend, free);
    }
    for (let i = 0; i < waiters.length && spare.size > 0; ) {
      const tried = (waiters[i] as Waiter).ctx.tried;
      let granted = false;
      for (const [backend, free] of spare) {
        if (tried.has(backend)) continue;
        if (free === 1) spare.delete(backend);
        else spare.set(backend, free - 1);
        this.#grant(i);
        granted = true;
        break;
      }
      if (!granted) i++;
    }
  }

  /** The balancer is closing: every waiter gets 503 `ERR_CLOSED`. */
  close(): void {
    while (this.#waiters.length > 0) {
      this.#leave(
        this.#waiters[0] as Waiter,
        'rejected',
        makeError('ERR_CLOSED', 'the load balancer is shutting down'),
      );
    }
  }

  /** Called by the waiter's timer. */
  expire(waiter: Waiter): void {
    waiter.timer = undefined;
    const error = waiter.deadlineBound
      ? makeError('ERR_DEADLINE', 'the request deadline (timeouts.total) passed while it waited for a backend slot')
      : makeError(
          'ERR_QUEUE_TIMEOUT',
          `no backend slot freed within ${this.#options.timeout} ms (queue.timeout) while every eligible backend was at its limit`,
        );
    this.#leave(waiter, 'timeout', error);
  }

  #insert(waiter: Waiter): void {
    const waiters = this.#waiters;
    let i = waiters.length;
    // A re-queued waiter goes back to its old place, usually the front.
    while (i > 0 && (waiters[i - 1] as Waiter).seq > waiter.seq) i--;
    waiters.splice(i, 0, waiter);
  }

  #remove(waiter: Waiter): boolean {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return false;
    this.#waiters.splice(i, 1);
    this.#detach(waiter);
    return true;
  }

  #detach(waiter: Waiter): void {
    if (waiter.timer) clearTimeout(waiter.timer);
    waiter.timer = undefined;
    if (waiter.onAbort) waiter.ctx.signal.removeEventListener('abort', waiter.onAbort);
    waiter.onAbort = undefined;
  }

  #grant(index: number): void {
    const waiter = this.#waiters.splice(index, 1)[0] as Waiter;
    this.#detach(waiter);
    this.#emit('dequeued');
    waiter.resolve(waiter);
  }

  #leave(waiter: Waiter, action: 'timeout' | 'aborted' | 'rejected', error: SwitchyardError): void {
    if (!this.#remove(waiter)) return;
    this.#emit(action);
    waiter.reject(error);
  }

  #emit(action: 'enqueued' | 'dequeued' | 'rejected' | 'timeout' | 'aborted'): void {
    if (this.#events.has('queue')) this.#events.emit('queue', { action, depth: this.#waiters.length });
  }
}

function onTimeout(queue: WaitQueue, waiter: Waiter): void {
  queue.expire(waiter);
}

function abortError(ctx: Context): SwitchyardError {
  return clientGone(ctx.res)
    ? makeError('ERR_CLIENT_ABORTED', 'client closed the connection while the request waited for a backend slot')
    : makeError('ERR_CANCELLED', 'the attempt was cancelled while it waited for a backend slot');
}
