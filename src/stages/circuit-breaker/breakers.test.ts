import { Agent } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import type { Strategy } from '../../core/strategy.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { Pool } from '../../upstream/pool/pool.js';
import { roundRobin } from '../../upstream/strategies/round-robin.js';
import { Breakers } from './breakers.js';
import { circuitBreakerSchema } from './options.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function world(options: object = {}, count = 1) {
  const pool = new Pool(roundRobin() as Strategy<Backend>, () => Date.now());
  const events = new Events();
  const backends = Array.from(
    { length: count },
    (_, i) =>
      new Backend({
        id: `b${i}`,
        url: new URL(`http://b${i}.test`),
        weight: 1,
        maxConnections: Infinity,
        agent: new Agent(),
      }),
  );
  for (const b of backends) pool.add(b);
  const breakers = new Breakers({ pool, events, now: () => Date.now() });
  breakers.configure(circuitBreakerSchema.parse({ volumeThreshold: 2, resetTimeout: 1000, ...options }));
  const log: string[] = [];
  for (const name of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) {
    events.on(name, (e: SwitchyardEvents[typeof name]) => log.push(`${name.slice(8)}:${e.backend}`));
  }
  const backend = backends[0]!;
  return { pool, events, breakers, backend, backends, log, breaker: () => breakers.get(backend)! };
}

const ctx = (): Context => ({ response: undefined }) as unknown as Context;
const answer = (status: number) => async (c: Context) => {
  c.response = { status, headers: {}, body: undefined };
};
const reset = () => new UpstreamError('ERR_UPSTREAM_RESET', 'reset', 'b0', 'reset', false);

async function outcome(run: Promise<void>): Promise<string> {
  try {
    await run;
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? 'error';
  }
}

async function open(w: ReturnType<typeof world>) {
  for (let i = 0; i < 2; i++) {
    const c = ctx();
    await w.breaker().run(c, () => answer(500)(c));
  }
  expect(w.breaker().state).toBe('open');
}

/** A next() the test settles later. */
function pending() {
  let settle!: (fn: () => void) => void;
  const c = ctx();
  const promise = new Promise<void>((resolve, reject) => {
    settle = (fn) => {
      try {
        fn();
        resolve();
      } catch (error) {
        reject(error);
      }
    };
  });
  return { c, next: () => promise, settle };
}

describe('Breakers', () => {
  it('opens on failures past the threshold and marks the backend ineligible', async () => {
    const w = world();
    await open(w);
    expect(w.backend.breakerOpen).toBe(true);
    expect(w.pool.candidates(new Set())).toEqual([]);
    expect(w.log).toEqual(['open:b0']);
    expect(await outcome(w.breaker().run(ctx(), async () => {}))).toBe('ERR_BREAKER_OPEN');
  });

  it('rejects with a retryable UpstreamError naming the backend', async () => {
    const w = world();
    await open(w);
    const error = await w
      .breaker()
      .run(ctx(), async () => {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'ERR_BREAKER_OPEN', backend: 'b0', reason: 'connect-failure', status: 503 });
  });

  it('counts a call when it starts and its outcome when it ends, as opossum does (in-flight calls weigh in the error rate)', async () => {
    const w = world({ errorThresholdPercentage: 50 });
    const calls = [pending(), pending(), pending(), pending()];
    const runs = calls.map((call) => outcome(w.breaker().run(call.c, call.next)));
    const fail = () => {
      throw reset();
    };
    calls[0]!.settle(fail);
    expect(await runs[0]).toBe('ERR_UPSTREAM_RESET');
    calls[1]!.settle(fail);
    expect(await runs[1]).toBe('ERR_UPSTREAM_RESET');
    // 2 failures of 4 calls is 50%, not over it: still closed.
    expect(w.breaker().state).toBe('closed');
    calls[2]!.settle(() => answer(200)(calls[2]!.c));
    expect(await runs[2]).toBe('ok');
    calls[3]!.settle(() => answer(503)(calls[3]!.c));
    // A failing status reaches the pipeline as the answer it is, and counts: 3 of 5 calls failed.
    expect(await runs[3]).toBe('ok');
    expect(w.breaker().state).toBe('open');
    expect(w.log).toEqual(['open:b0']);
  });

  it('lets no late success of an earlier request close a half-open breaker', async () => {
    const w = world();
    const slow = pending();
    const late = w.breaker().run(slow.c, slow.next);
    await open(w);
    vi.advanceTimersByTime(1000);
    expect(w.breaker().state).toBe('half-open');
    slow.settle(() => answer(200)(slow.c));
    await late;
    expect(w.breaker().state).toBe('half-open');
    expect(w.log).toEqual(['open:b0', 'half-open:b0']);
  });

  it('lets no late failure of an earlier request reopen a half-open breaker', async () => {
    const w = world();
    const slow = pending();
    const late = outcome(w.breaker().run(slow.c, slow.next));
    await open(w);
    vi.advanceTimersByTime(1000);
    slow.settle(() => {
      throw reset();
    });
    expect(await late).toBe('ERR_UPSTREAM_RESET');
    expect(w.breaker().state).toBe('half-open');
  });

  it('goes half-open at a passing check that started after it opened, and closes on its probe', async () => {
    const w = world({ resetTimeout: 30_000 });
    const before = Date.now();
    vi.advanceTimersByTime(5);
    await open(w);
    // A check sent before the breaker opened says nothing about the backend since.
    w.breakers.checkPassed(w.backend, before);
    expect(w.breaker().state).toBe('open');
    vi.advanceTimersByTime(250);
    w.breakers.checkPassed(w.backend, Date.now());
    expect(w.breaker().state).toBe('half-open');
    expect(w.backend.breakerOpen).toBe(false);
    const c = ctx();
    await w.breaker().run(c, () => answer(200)(c));
    expect(w.breaker().state).toBe('closed');
    expect(w.log).toEqual(['open:b0', 'half-open:b0', 'close:b0']);
    // opossum's 30 s reset timer went with the old breaker: nothing happens when it would have fired.
    vi.advanceTimersByTime(30_000);
    expect(w.log).toEqual(['open:b0', 'half-open:b0', 'close:b0']);
  });

  it('opens again on a failed probe after an early half-open, and waits a full resetTimeout', async () => {
    const w = world({ resetTimeout: 30_000 });
    await open(w);
    vi.advanceTimersByTime(250);
    w.breakers.checkPassed(w.backend, Date.now());
    expect(await outcome(w.breaker().run(ctx(), async () => Promise.reject(reset())))).toBe('ERR_UPSTREAM_RESET');
    expect(w.breaker().state).toBe('open');
    vi.advanceTimersByTime(29_999);
    expect(w.breaker().state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(w.breaker().state).toBe('half-open');
    expect(w.log).toEqual(['open:b0', 'half-open:b0', 'open:b0', 'half-open:b0']);
  });

  it('keeps waiting for resetTimeout on a passing check with halfOpenOnPassingCheck off', async () => {
    const w = world({ resetTimeout: 30_000, halfOpenOnPassingCheck: false });
    await open(w);
    vi.advanceTimersByTime(250);
    w.breakers.checkPassed(w.backend, Date.now());
    expect(w.breaker().state).toBe('open');
  });

  it('admits halfOpenProbes at once and rejects the rest', async () => {
    const w = world({ halfOpenProbes: 2 });
    await open(w);
    vi.advanceTimersByTime(1000);
    const first = pending();
    const second = pending();
    const runs = [w.breaker().run(first.c, first.next), w.breaker().run(second.c, second.next)];
    expect(w.breaker().probes).toBe(2);
    expect(w.backend.breakerOpen).toBe(true);
    expect(await outcome(w.breaker().run(ctx(), async () => {}))).toBe('ERR_BREAKER_OPEN');
    first.settle(() => answer(200)(first.c));
    second.settle(() => answer(200)(second.c));
    await Promise.all(runs);
    expect(w.breaker().state).toBe('closed');
  });

  it('frees a probe slot without a verdict when the client goes away', async () => {
    const w = world({ successThreshold: 1 });
    await open(w);
    vi.advanceTimersByTime(1000);
    const aborted = new UpstreamError('ERR_CLIENT_ABORTED', 'gone', 'b0', 'reset', false);
    expect(
      await outcome(
        w.breaker().run(ctx(), async () => {
          throw aborted;
        }),
      ),
    ).toBe('ERR_CLIENT_ABORTED');
    expect(w.breaker().state).toBe('half-open');
    expect(w.backend.breakerOpen).toBe(false);
  });

  it('counts neither client aborts nor non-upstream errors as failures', async () => {
    const w = world({ volumeThreshold: 1, errorThresholdPercentage: 0 });
    const aborted = new UpstreamError('ERR_CLIENT_ABORTED', 'gone', 'b0', 'reset', false);
    for (const error of [aborted, new Error('a middleware bug')]) {
      await outcome(
        w.breaker().run(ctx(), async () => {
          throw error;
        }),
      );
    }
    expect(w.breaker().state).toBe('closed');
    await outcome(
      w.breaker().run(ctx(), async () => {
        throw reset();
      }),
    );
    expect(w.breaker().state).toBe('open');
  });

  it('judges a streamed answer again when its body completes: a late judgedStatus (gRPC trailers) counts', async () => {
    const w = world({ volumeThreshold: 2, successThreshold: 1 });
    /** A gRPC-style answer: 200 and a body; the forwarder sets `judgedStatus` just before the body ends. */
    const streamed = async (late: number | undefined) => {
      const c = ctx();
      const body = new PassThrough();
      await w.breaker().run(c, async () => {
        c.response = { status: 200, headers: { 'content-type': 'application/grpc' }, body };
      });
      if (late !== undefined) (c.response as NonNullable<Context['response']>).judgedStatus = late;
      body.resume();
      body.end();
      await new Promise((resolve) => body.once('end', resolve));
      await vi.advanceTimersByTimeAsync(0);
    };
    await streamed(404);
    await streamed(undefined);
    expect(w.breaker().state).toBe('closed');
    // 2 of 4 is not past the default 50 %; 3 of 5 is.
    await streamed(503);
    await streamed(503);
    expect(w.breaker().state).toBe('closed');
    await streamed(500);
    expect(w.breaker().state).toBe('open');
    vi.advanceTimersByTime(1000);
    expect(w.breaker().state).toBe('half-open');
    // A probe whose trailers say UNAVAILABLE fails; one that ends OK closes the breaker.
    await streamed(503);
    expect(w.breaker().state).toBe('open');
    vi.advanceTimersByTime(1000);
    await streamed(undefined);
    expect(w.breaker().state).toBe('closed');
  });

  it('resolves a failing status normally, after counting it', async () => {
    const w = world({ volumeThreshold: 5 });
    const c = ctx();
    await expect(w.breaker().run(c, () => answer(503)(c))).resolves.toBeUndefined();
    expect(c.response?.status).toBe(503);
  });

  it('shares one bucket timer among all breakers', () => {
    world({}, 8);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('closes every breaker, announced, when turned off', async () => {
    const w = world();
    await open(w);
    w.breakers.configure(false);
    expect(w.log).toEqual(['open:b0', 'close:b0']);
    expect(w.backend.breakerOpen).toBe(false);
    expect(w.breakers.get(w.backend)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('drops a removed backend’s breaker silently, and all of them on close', async () => {
    const w = world({}, 2);
    await open(w);
    w.breakers.remove(w.backend);
    expect(w.breakers.get(w.backend)).toBeUndefined();
    expect(w.log).toEqual(['open:b0']);
    w.breakers.close();
    expect(w.breakers.get(w.backends[1]!)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    w.breakers.add(w.backend);
    expect(w.breakers.get(w.backend)).toBeUndefined();
  });
});
