import { describe, expect, it } from 'vitest';
import type { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { RetryBudget } from './budget.js';
import { retry } from './middleware.js';
import { retrySchema } from './options.js';

const backends = ['a', 'b', 'c'].map((id) => ({ id }) as Backend);

function fakeCtx(method = 'GET'): Context {
  return {
    method,
    req: { headers: {}, httpVersionMajor: 1 },
    res: { headersSent: false },
    deadline: Number.POSITIVE_INFINITY,
    tried: new Set<Backend>(),
    signal: new AbortController().signal,
    backend: undefined,
    response: undefined,
  } as unknown as Context;
}

/**
 * The retry stage around a scripted bracket: attempt `i` goes to backend
 * `i % 3` and does what `script[i]` says (a status, or an error to throw,
 * at once or after a pending turn).
 */
function stage(script: (number | Error)[], options: object = {}, canRetry = () => true, sync = false) {
  const events = new Events();
  const retries: SwitchyardEvents['retry'][] = [];
  events.on('retry', (e) => retries.push(e));
  let asked = 0;
  const budgetOptions = retrySchema.parse(options).budget;
  const budget = budgetOptions ? new RetryBudget(budgetOptions) : undefined;
  let n = 0;
  const attempt = (ctx: Context): Promise<void> => {
    const step = script[n];
    const backend = backends[n % backends.length] as Backend;
    n++;
    ctx.backend = backend;
    ctx.tried.add(backend);
    if (step instanceof Error) {
      if (sync) throw step;
      return Promise.reject(step);
    }
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        ctx.response = { status: step ?? 200, headers: {}, body: undefined };
        resolve();
      });
    });
  };
  const middleware = retry(retrySchema.parse({ backoffBase: 0, ...options }), false, attempt, {
    events,
    random: () => 0,
    now: () => 0,
    canRetry: () => {
      asked++;
      return canRetry();
    },
    canHedge: () => true,
    budget,
  });
  return {
    run: (ctx: Context) => middleware(ctx, () => Promise.resolve()),
    retries,
    attempts: () => n,
    asked: () => asked,
  };
}

const refused = () => new UpstreamError('ERR_UPSTREAM_CONNECT', 'refused', 'a', 'connect-failure', false);
const idleRace = () => new UpstreamError('ERR_UPSTREAM_RESET', 'reset', 'a', 'reset', true);

describe('retry stage', () => {
  it('answers with a first attempt that is not retried, asking the pool nothing', async () => {
    const s = stage([200]);
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(200);
    expect(s.attempts()).toBe(1);
    expect(s.asked()).toBe(0);
    expect(s.retries).toEqual([]);
  });

  it('retries a retryable status on the next attempt, and answers with its response', async () => {
    const s = stage([503, 200]);
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(200);
    expect(s.attempts()).toBe(2);
    expect(s.asked()).toBe(1);
    expect(s.retries).toEqual([{ backend: 'a', attempt: 2, reason: 'status', status: 503, delayMs: 0 }]);
  });

  it('answers with the last retryable status once attempts are spent', async () => {
    const s = stage([503, 502, 504, 200], { attempts: 3 });
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(504);
    expect(s.attempts()).toBe(3);
    expect(s.retries.map((e) => [e.backend, e.attempt])).toEqual([
      ['a', 2],
      ['b', 3],
    ]);
  });

  it('leaves a retryable status as it is when no other backend could take it', async () => {
    const s = stage([503, 200], {}, () => false);
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(503);
    expect(s.attempts()).toBe(1);
    expect(s.retries).toEqual([]);
  });

  it('retries a connect failure, thrown at once or rejected, and rethrows an error that is not retried', async () => {
    for (const sync of [false, true]) {
      const s = stage([refused(), 200], {}, () => true, sync);
      const ctx = fakeCtx('POST');
      await s.run(ctx);
      expect(ctx.response?.status).toBe(200);
      expect(s.retries).toEqual([{ backend: 'a', attempt: 2, reason: 'connect-failure', delayMs: 0 }]);
      const boom = new Error('boom');
      const t = stage([boom, 200], {}, () => true, sync);
      await expect(t.run(fakeCtx())).rejects.toBe(boom);
      expect(t.attempts()).toBe(1);
    }
  });

  it('does not retry a 503 of a non-idempotent request', async () => {
    const s = stage([503, 200]);
    const ctx = fakeCtx('POST');
    await s.run(ctx);
    expect(ctx.response?.status).toBe(503);
    expect(s.attempts()).toBe(1);
  });

  it('takes the idle-socket race once beyond attempts, then counts attempts as before', async () => {
    const s = stage([idleRace(), 503, 503, 200], { attempts: 2 });
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(503);
    expect(s.attempts()).toBe(3);
    expect(s.retries.map((e) => [e.reason, e.attempt])).toEqual([
      ['reset', 2],
      ['status', 2],
    ]);
  });

  it('charges the budget for each retry, from the first attempt and the later ones', async () => {
    // 100 %, no reserve: the one request's deposit pays for one retry, not two.
    const s = stage([503, 503, 200], { attempts: 3, budget: { percent: 100, minRetriesPerSecond: 0 } });
    const ctx = fakeCtx();
    await s.run(ctx);
    expect(ctx.response?.status).toBe(503);
    expect(s.attempts()).toBe(2);
    // 1 %: the deposit pays for none.
    const t = stage([503, 200], { budget: { percent: 1, minRetriesPerSecond: 0 } });
    const other = fakeCtx();
    await t.run(other);
    expect(other.response?.status).toBe(503);
    expect(t.attempts()).toBe(1);
  });
});
