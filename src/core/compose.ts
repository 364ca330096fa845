import type { Context } from './context.js';
import { makeError } from './errors.js';

/** Continues with the rest of the pipeline. Call at most once, and await it. */
export type Next = () => Promise<void>;

/**
 * A pipeline stage with the Koa signature.
 *
 * @example
 * ```ts
 * import { type Middleware } from 'switchyard-lb';
 * const timing: Middleware = async function timing(ctx, next) {
 *   const start = performance.now();
 *   await next();
 *   ctx.response?.headers && (ctx.response.headers['server-timing'] = `lb;dur=${performance.now() - start}`);
 * };
 * ```
 */
export type Middleware = (ctx: Context, next: Next) => Promise<void>;

/** A middleware with the name it is known by in the chain. */
export interface NamedMiddleware {
  readonly name: string;
  readonly handle: Middleware;
}

function noop(): void {}

const DONE: Promise<void> = Promise.resolve();

/** Middleware known to await the next() they call: the built-in stages. */
const TRUSTED = new WeakSet<Middleware>();

/**
 * Marks a built-in stage's middleware as one that always awaits the next()
 * it calls: `compose` then runs it without the guard's extra promise (it
 * still refuses a second next()). Internal: user middleware stay guarded.
 */
export function trustStage(handle: Middleware): Middleware {
  TRUSTED.add(handle);
  return handle;
}

/**
 * One middleware's turn in one run of a chain: the `next` it is handed, and
 * what the guards need to know about the rest of the chain it started.
 */
class Step {
  readonly entries: readonly NamedMiddleware[];
  readonly ctx: Context;
  readonly index: number;
  readonly last: Next | undefined;
  /** The rest of the chain, once `next()` started it. */
  pending: Promise<void> | undefined;
  /** The rest of the chain has finished (resolved or rejected). */
  over = false;
  /** This step's middleware is a built-in stage (see {@link trustStage}). */
  trusted = false;
  readonly next: Next;

  constructor(entries: readonly NamedMiddleware[], ctx: Context, index: number, last: Next | undefined) {
    this.entries = entries;
    this.ctx = ctx;
    this.index = index;
    this.last = last;
    this.next = () => this.callNext();
  }

  callNext(): Promise<void> {
    if (this.pending !== undefined) {
      const name = (this.entries[this.index] as NamedMiddleware).name;
      return Promise.reject(makeError('ERR_NEXT_CALLED_TWICE', `middleware '${name}' called next() more than once`));
    }
    const index = this.index + 1;
    if (index === this.entries.length && this.last === undefined) {
      // The end of the chain: nothing runs, nothing to wait for.
      this.over = true;
      this.pending = DONE;
    } else this.pending = runFrom(this.entries, this.ctx, index, this.last, this);
    return this.pending;
  }
}

/**
 * Runs the chain from `index` on; tells `parent` (the step whose `next()`
 * started it) when it is over. One promise per middleware, no closures but
 * each step's `next`.
 */
function runFrom(
  entries: readonly NamedMiddleware[],
  ctx: Context,
  index: number,
  last: Next | undefined,
  parent: Step | undefined,
): Promise<void> {
  const entry = entries[index];
  // A built-in stage awaits its next() by construction: under a parent that needs no word of
  // its end (none, or another built-in stage), it runs without a guarding frame of its own.
  if (entry !== undefined && TRUSTED.has(entry.handle) && (parent === undefined || parent.trusted)) {
    const step = new Step(entries, ctx, index, last);
    step.trusted = true;
    try {
      return entry.handle(ctx, step.next);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return guarded(entries, ctx, index, last, parent);
}

/** {@link runFrom} for a middleware the guards watch: it must have awaited the next() it called. */
async function guarded(
  entries: readonly NamedMiddleware[],
  ctx: Context,
  index: number,
  last: Next | undefined,
  parent: Step | undefined,
): Promise<void> {
  try {
    const entry = entries[index];
    if (entry === undefined) {
      if (last) await last();
      return;
    }
    const step = new Step(entries, ctx, index, last);
    await entry.handle(ctx, step.next);
    if (step.pending !== undefined && !step.over) {
      // The downstream chain would go on writing to ctx after this middleware
      // believes the request is done: fail loudly rather than race.
      step.pending.catch(noop);
      throw makeError(
        'ERR_MIDDLEWARE',
        `middleware '${entry.name}' returned before the next() it called had finished: await next()`,
      );
    }
  } finally {
    if (parent !== undefined) parent.over = true;
  }
}

/**
 * Composes middleware into one, Koa-style, built once. Guards against the two
 * classic bugs: `next()` called twice (rejects with `ERR_NEXT_CALLED_TWICE`)
 * and a middleware that returns without awaiting `next()` while the rest of
 * the chain is still running (rejects with `ERR_MIDDLEWARE`, naming it).
 *
 * @example
 * ```ts
 * import { compose } from 'switchyard-lb';
 * declare const a: import('./compose.js').Middleware;
 * declare const b: import('./compose.js').Middleware;
 * const run = compose([{ name: 'a', handle: a }, { name: 'b', handle: b }]);
 * await run(ctx, async () => {});
 * ```
 */
export function compose(chain: readonly NamedMiddleware[]): (ctx: Context, last?: Next) => Promise<void> {
  const entries = chain.slice();
  return function composed(ctx: Context, last?: Next): Promise<void> {
    return runFrom(entries, ctx, 0, last, undefined);
  };
}
