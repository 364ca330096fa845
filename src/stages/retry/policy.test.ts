import { describe, expect, it } from 'vitest';
import type { Backend } from '../../core/backend.js';
import type { Context, PendingResponse } from '../../core/context.js';
import { Events } from '../../core/events.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { retrySchema } from './options.js';
import { ANSWERED, RetryPolicy } from './policy.js';

function policy(options: object = {}, random = () => 0.999) {
  return new RetryPolicy(retrySchema.parse(options), {
    events: new Events(),
    random,
    now: () => 0,
    canRetry: () => true,
    canHedge: () => true,
    budget: undefined,
  });
}

const failure = (
  reason: 'connect-failure' | 'reset' | 'timeout',
  reused = false,
  code = 'ERR_UPSTREAM_RESET' as const,
) => new UpstreamError(code, 'x', 'a', reason, reused);

function response(status: number, retryAfter?: string): PendingResponse {
  return { status, headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter }, body: undefined };
}

describe('RetryPolicy', () => {
  it('draws full-jitter backoff under min(backoffMax, base·2^(n-1))', () => {
    const p = policy();
    expect(p.backoff(1)).toBeCloseTo(24.975);
    expect(p.backoff(2)).toBeCloseTo(49.95);
    expect(p.backoff(5)).toBeCloseTo(249.75);
    expect(policy({}, () => 0).backoff(3)).toBe(0);
  });

  it('uses a custom backoff', () => {
    expect(policy({ backoff: (n: number) => n * 10 }).backoff(3)).toBe(30);
  });

  it('retries idempotent requests on the failures in retryOn only', () => {
    const p = policy({ retryOn: ['reset'] });
    expect(p.retryableError(failure('reset'), true)).toBe(true);
    expect(p.retryableError(failure('timeout'), true)).toBe(false);
    expect(p.retryableError(new Error('boom'), true)).toBe(false);
  });

  it('retries other methods only when the connection was never made', () => {
    const p = policy();
    expect(p.retryableError(failure('connect-failure'), false)).toBe(true);
    expect(p.retryableError(failure('connect-failure', true), false)).toBe(false);
    expect(p.retryableError(failure('reset'), false)).toBe(false);
    expect(p.retryableError(failure('timeout'), false)).toBe(false);
  });

  it('never retries a client abort, a cancellation or a passed deadline', () => {
    const p = policy();
    for (const code of ['ERR_CLIENT_ABORTED', 'ERR_CANCELLED', 'ERR_DEADLINE'] as const) {
      expect(p.retryableError(new UpstreamError(code, 'x', 'a', 'timeout', false), true)).toBe(false);
    }
  });

  it('waits for a Retry-After within retryAfterMax on 503 and 429, and refuses a longer one', () => {
    const p = policy({ retryAfterMax: '2s', statuses: [429, 503] });
    expect(p.waitAfter(response(503, '2'), 1)).toBe(2000);
    expect(p.waitAfter(response(429, '0'), 1)).toBe(0);
    expect(p.waitAfter(response(503, '3'), 1)).toBeUndefined();
    // Other statuses and malformed values fall back to the backoff.
    expect(p.waitAfter(response(502, '1'), 1)).toBeCloseTo(24.975);
    expect(p.waitAfter(response(503, 'later'), 1)).toBeCloseTo(24.975);
  });
});

describe('RetryPolicy.decide (the one decision of the loop and of hedging)', () => {
  const ctx = (deadline = Number.POSITIVE_INFINITY, headersSent = false) =>
    ({ res: { headersSent }, deadline }) as unknown as Context;
  const backend = { id: 'a' } as Backend;

  it('sends the idle-socket race again at once, outside attempts, only while it may race', () => {
    const p = policy();
    const race = failure('reset', true);
    expect(p.decide(ctx(), backend, race, undefined, 2, 2, true, true)).toMatchObject({
      go: true,
      race: true,
      delayMs: 0,
    });
    expect(p.decide(ctx(), backend, race, undefined, 2, 2, true, false)).toEqual({ go: false });
  });

  it('retries a retryable failure or status with its wait, until attempts run out', () => {
    const p = policy();
    expect(p.decide(ctx(), backend, failure('connect-failure'), undefined, 1, 2, true, false)).toMatchObject({
      go: true,
      race: false,
      reason: 'connect-failure',
      backend: 'a',
    });
    expect(p.decide(ctx(), backend, ANSWERED, response(503, '0'), 1, 2, true, false)).toMatchObject({
      go: true,
      reason: 'status',
      status: 503,
      delayMs: 0,
    });
    expect(p.decide(ctx(), backend, failure('connect-failure'), undefined, 2, 2, true, false)).toEqual({ go: false });
    expect(p.decide(ctx(), backend, ANSWERED, response(200), 1, 2, true, false)).toEqual({ go: false });
  });

  it('does not retry past the deadline, after bytes reached the client, or a non-idempotent answer', () => {
    const p = policy();
    expect(p.decide(ctx(0), backend, failure('connect-failure'), undefined, 1, 2, true, false)).toEqual({ go: false });
    expect(p.decide(ctx(Infinity, true), backend, ANSWERED, response(502), 1, 2, true, false)).toEqual({ go: false });
    expect(p.decide(ctx(), backend, ANSWERED, response(502), 1, 2, false, false)).toEqual({ go: false });
  });
});
