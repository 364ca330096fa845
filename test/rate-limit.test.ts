import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancerOptions, SwitchyardEvents } from '../src/index.js';
import type { LimitDecision, Limiter } from '../src/stages/rate-limit/limiter.js';
import { MAX_RETRY_AFTER_SECONDS } from '../src/stages/rate-limit/middleware.js';
import { type Fixture, setup } from './fixture.js';
import { request } from './helpers.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

let clock = 0;
async function start(rateLimit: LoadBalancerOptions['rateLimit'], extra: Omit<LoadBalancerOptions, 'backends'> = {}) {
  clock = 0;
  fixture = await setup(['a'], { rateLimit, now: () => clock, ...extra });
  return fixture;
}

const get = (headers: Record<string, string> = {}, path = '/') =>
  request((fixture as Fixture).front.port, { path, headers });

function warnings(): { seen: string[]; stop(): void } {
  const seen: string[] = [];
  const listener = (warning: Error) => seen.push(warning.message);
  process.on('warning', listener);
  return { seen, stop: () => process.off('warning', listener) };
}

/** A limiter that records calls and answers from a script. */
function spy(name: string, allowed: () => boolean): Limiter & { consumed: string[]; refunded: string[] } {
  const consumed: string[] = [];
  const refunded: string[] = [];
  return {
    name,
    consumed,
    refunded,
    consume(key): LimitDecision {
      consumed.push(key);
      const ok = allowed();
      return { allowed: ok, limit: 100, remaining: ok ? 99 : 0, resetMs: 1000, retryAfterMs: ok ? 0 : 1000 };
    },
    refund(key) {
      refunded.push(key);
    },
  };
}

describe('rate limiting', () => {
  it('is absent from the pipeline unless configured, and first when it is', async () => {
    const off = await start(undefined);
    expect(off.lb.pipeline).not.toContain('rate-limit');
    await off.close();
    const on = await start({ points: 1, duration: '1s' });
    expect(on.lb.pipeline[0]).toBe('rate-limit');
  });

  it('answers 429 with Retry-After, RateLimit-* headers and an ERR_RATE_LIMITED body once the limit is spent', async () => {
    const { backends } = await start({ points: 2, duration: '10s' });
    const first = await get();
    expect(first.status).toBe(200);
    expect(first.headers).toMatchObject({
      'ratelimit-limit': '2',
      'ratelimit-remaining': '1',
      'ratelimit-reset': '10',
      'ratelimit-policy': '2;w=10',
    });
    clock = 2500;
    expect((await get()).headers['ratelimit-remaining']).toBe('0');
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.headers).toMatchObject({
      'retry-after': '8',
      'ratelimit-limit': '2',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '8',
      'cache-control': 'no-store',
    });
    expect(limited.json()).toEqual({
      error: {
        code: 'ERR_RATE_LIMITED',
        message: "rate limit '2-per-10000ms' exceeded; retry in 8 s",
        limit: '2-per-10000ms',
        retryAfter: 8,
      },
    });
    expect(backends[0]?.requests.length).toBe(2);
    clock = 10_000;
    expect((await get()).status).toBe(200);
  });

  it('reports a refused request in the request event with its code', async () => {
    const fx = await start({ points: 1, duration: '1s' });
    const seen: SwitchyardEvents['request'][] = [];
    fx.lb.on('request', (e) => seen.push(e));
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(429);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.map((e) => [e.status, e.error])).toEqual([
      [200, undefined],
      [429, 'ERR_RATE_LIMITED'],
    ]);
  });

  it('rounds Retry-After up to whole seconds', async () => {
    await start({ points: 1, duration: '1s', algorithm: 'sliding-window' });
    await get();
    clock = 1;
    const limited = await get();
    // 1999 ms to go: 2 s, never 1.
    expect(limited.headers['retry-after']).toBe('2');
  });

  it('sends no RateLimit-* headers with headers: false, but still Retry-After on 429', async () => {
    await start({ points: 1, duration: '1s', headers: false });
    const ok = await get();
    expect(ok.headers['ratelimit-limit']).toBeUndefined();
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['ratelimit-remaining']).toBeUndefined();
  });

  it('ignores X-Forwarded-For from an untrusted peer: a new header does not buy a new limit', async () => {
    await start({ points: 2, duration: '1m' });
    expect((await get({ 'x-forwarded-for': '198.51.100.1' })).status).toBe(200);
    expect((await get({ 'x-forwarded-for': '198.51.100.2' })).status).toBe(200);
    expect((await get({ 'x-forwarded-for': '198.51.100.3' })).status).toBe(429);
  });

  it('keys by the client a trusted proxy names, whatever the client prepends', async () => {
    await start({ points: 2, duration: '1m' }, { trustProxy: ['loopback'] });
    // The proxy (loopback) appends the real client; entries left of it are the client's own words.
    for (let i = 0; i < 2; i++) {
      expect((await get({ 'x-forwarded-for': `10.9.9.${i}, 203.0.113.7` })).status).toBe(200);
    }
    expect((await get({ 'x-forwarded-for': '10.9.9.99, 203.0.113.7' })).status).toBe(429);
    expect((await get({ 'x-forwarded-for': '203.0.113.8' })).status).toBe(200);
  });

  it('keys by IP and warns when the key function throws, and never fails the request', async () => {
    const watch = warnings();
    try {
      await start({
        points: 1,
        duration: '1m',
        key: () => {
          throw new Error('no tenant');
        },
      });
      expect((await get()).status).toBe(200);
      expect((await get()).status).toBe(429);
      await new Promise((resolve) => setImmediate(resolve));
      expect(watch.seen.filter((m) => m.includes('no tenant'))).toHaveLength(1);
    } finally {
      watch.stop();
    }
  });

  it('keys by a header, each value its own bucket, and by IP without it', async () => {
    await start({ points: 1, duration: '1m', key: { header: 'x-api-key' } });
    expect((await get({ 'x-api-key': 'a' })).status).toBe(200);
    expect((await get({ 'x-api-key': 'a' })).status).toBe(429);
    expect((await get({ 'x-api-key': 'b' })).status).toBe(200);
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(429);
  });

  it('bounds a huge key: the request is limited, the key in events is short', async () => {
    await start({ points: 1, duration: '1m', key: { header: 'x-api-key' } });
    const keys: string[] = [];
    fixture?.lb.on('ratelimit', ({ key }) => keys.push(key));
    const huge = 'k'.repeat(8000);
    expect((await get({ 'x-api-key': huge })).status).toBe(200);
    expect((await get({ 'x-api-key': huge })).status).toBe(429);
    expect(keys[0]?.length).toBeLessThanOrEqual(200);
  });

  it('keys by route: all clients of one method and path share a bucket, the query aside', async () => {
    await start({ points: 1, duration: '1m', key: 'route' });
    expect((await get({}, '/login?a=1')).status).toBe(200);
    expect((await get({}, '/login?a=2')).status).toBe(429);
    expect((await get({}, '/other')).status).toBe(200);
  });

  it('limits only the routes listed', async () => {
    await start({ points: 1, duration: '1m', key: { route: ['/api/'] } });
    expect((await get({}, '/api/a')).status).toBe(200);
    expect((await get({}, '/api/b')).status).toBe(429);
    expect((await get({}, '/static/x')).status).toBe(200);
    expect((await get({}, '/static/x')).status).toBe(200);
  });

  it('stops at the first refusing limit: earlier limits are refunded, later ones never consulted', async () => {
    const before = spy('before', () => true);
    const after = spy('after', () => true);
    await start({
      limits: [{ limiter: before }, { name: 'tight', points: 1, duration: '1m' }, { limiter: after }],
    });
    const ok = await get();
    expect(ok.status).toBe(200);
    // The tightest limit speaks in the headers.
    expect(ok.headers['ratelimit-limit']).toBe('1');
    expect(ok.headers['ratelimit-policy']).toBe('1;w=60');
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.json<{ error: { limit: string } }>().error.limit).toBe('tight');
    expect(before.consumed).toEqual(['ip:127.0.0.1', 'ip:127.0.0.1']);
    expect(before.refunded).toEqual(['ip:127.0.0.1']);
    expect(after.consumed).toEqual(['ip:127.0.0.1']);
  });

  it('needs every limit to pass: per-second and per-hour together', async () => {
    await start({
      limits: [
        { name: 'per-second', points: 2, duration: '1s', algorithm: 'sliding-window' },
        { name: 'per-hour', points: 3, duration: '1h' },
      ],
    });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200);
    const second = await get();
    expect(second.status).toBe(429);
    expect(second.json<{ error: { limit: string } }>().error.limit).toBe('per-second');
    clock = 5000;
    expect((await get()).status).toBe(200);
    const hour = await get();
    expect(hour.status).toBe(429);
    expect(hour.json<{ error: { limit: string } }>().error.limit).toBe('per-hour');
    // The hour's window opened with the first request, at 0.
    expect(hour.headers['retry-after']).toBe('3595');
  });

  it('refuses denylisted addresses with 403 ERR_FORBIDDEN', async () => {
    const { backends } = await start({ points: 100, duration: '1s', deny: ['127.0.0.0/8'] });
    const denied = await get();
    expect(denied.status).toBe(403);
    expect(denied.json()).toEqual({
      error: { code: 'ERR_FORBIDDEN', message: 'this client address is not allowed' },
    });
    expect(backends[0]?.requests.length).toBe(0);
  });

  it('lets allowlisted addresses through without counting them', async () => {
    await start({ points: 1, duration: '1s', allow: ['127.0.0.1'] });
    for (let i = 0; i < 3; i++) {
      const ok = await get();
      expect(ok.status).toBe(200);
      expect(ok.headers['ratelimit-limit']).toBeUndefined();
    }
  });

  it('emits a ratelimit event per decision', async () => {
    await start({ points: 1, duration: '1s', algorithm: 'token-bucket' });
    const seen: SwitchyardEvents['ratelimit'][] = [];
    fixture?.lb.on('ratelimit', (event) => seen.push(event));
    await get();
    await get();
    expect(seen).toEqual([
      { allowed: true, limit: '1-per-1000ms', key: 'ip:127.0.0.1', remaining: 0 },
      { allowed: false, limit: '1-per-1000ms', key: 'ip:127.0.0.1', remaining: 0, retryAfterMs: 1000 },
    ]);
  });

  it('caps Retry-After for a key blocked for ever', async () => {
    const forever: Limiter = {
      name: 'forever',
      consume: () => ({
        allowed: false,
        limit: 1,
        remaining: 0,
        resetMs: Number.MAX_SAFE_INTEGER,
        retryAfterMs: Number.MAX_SAFE_INTEGER,
      }),
    };
    await start({ limits: [{ limiter: forever }] });
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe(String(MAX_RETRY_AFTER_SECONDS));
    expect(limited.headers['ratelimit-reset']).toBe(String(MAX_RETRY_AFTER_SECONDS));
  });

  it('lets the request through and warns when a user limiter fails', async () => {
    const watch = warnings();
    try {
      const broken: Limiter = {
        name: 'broken',
        consume: () => Promise.reject(new Error('store on fire')),
      };
      await start({ limits: [{ limiter: broken }] });
      expect((await get()).status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
      expect(watch.seen.some((m) => m.includes('store on fire'))).toBe(true);
    } finally {
      watch.stop();
    }
  });

  it('counts IPv6 clients of one /64 together', async () => {
    await start({ points: 1, duration: '1m' }, { trustProxy: ['loopback'] });
    expect((await get({ 'x-forwarded-for': '2001:db8:1:2::1' })).status).toBe(200);
    expect((await get({ 'x-forwarded-for': '2001:db8:1:2::ffff' })).status).toBe(429);
    expect((await get({ 'x-forwarded-for': '2001:db8:1:3::1' })).status).toBe(200);
  });
});
