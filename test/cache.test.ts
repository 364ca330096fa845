import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLoadBalancer,
  type LoadBalancer,
  type LoadBalancerOptions,
  type SwitchyardEvents,
} from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { type Listening, listen, type Reply, request } from './helpers.js';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from './redis.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface CacheFixture {
  lb: LoadBalancer;
  front: Listening;
  backend: TestBackend;
  /** The fake clock, in ms. */
  clock: { ms: number };
  get(path?: string, headers?: Record<string, string>, method?: string): Promise<Reply>;
  host: string;
  close(): Promise<void>;
}

const open: CacheFixture[] = [];
afterEach(async () => {
  for (const fx of open.splice(0)) await fx.close();
});

/** One in-memory backend answering with `handler`, a balancer with `cache`, and a fake clock. */
async function setup(handler: Handler, options: Omit<LoadBalancerOptions, 'backends'> = {}): Promise<CacheFixture> {
  const clock = { ms: 1_000 };
  const backend = createMemoryBackend({ id: 'origin', handler });
  const lb = createLoadBalancer({
    strategy: 'round-robin',
    now: () => clock.ms,
    cache: {},
    ...options,
    backends: [backend.config],
  });
  const front = await listen(lb.handler);
  const fx: CacheFixture = {
    lb,
    front,
    backend,
    clock,
    host: `127.0.0.1:${front.port}`,
    get: (path = '/', headers = {}, method = 'GET') => request(front.port, { path, headers, method }),
    async close() {
      await front.close();
      await lb.close();
      await backend.close();
    },
  };
  open.push(fx);
  return fx;
}

/** A handler answering `body` with `headers`, counting nothing (the backend records requests). */
function answer(
  headers: Record<string, string | string[]>,
  body: string | ((req: IncomingMessage) => string) = 'hello',
): Handler {
  return (req, res) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.end(typeof body === 'function' ? body(req) : body);
  };
}

const upstreamCalls = (fx: CacheFixture) => fx.backend.requests.length;

describe('response cache: hits, misses and freshness', () => {
  it('serves a fresh response from the cache with X-Cache and Age, then refetches once stale', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }));
    const miss = await fx.get('/page?x=1');
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(miss.text).toBe('hello');
    fx.clock.ms += 30_000;
    const hit = await fx.get('/page?x=1');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.age).toBe('30');
    expect(hit.text).toBe('hello');
    expect(upstreamCalls(fx)).toBe(1);
    // Another query is another key.
    expect((await fx.get('/page?x=2')).headers['x-cache']).toBe('MISS');
    fx.clock.ms += 30_001;
    expect((await fx.get('/page?x=1')).headers['x-cache']).toBe('MISS');
    expect(upstreamCalls(fx)).toBe(3);
  });

  it('adds the upstream Age to the entry’s age and stores nothing already stale', async () => {
    const fx = await setup((req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.setHeader('age', req.url === '/old' ? '60' : '50');
      res.end('x');
    });
    await fx.get('/young');
    fx.clock.ms += 5_000;
    expect((await fx.get('/young')).headers.age).toBe('55');
    fx.clock.ms += 5_000;
    expect((await fx.get('/young')).headers['x-cache']).toBe('MISS');
    await fx.get('/old');
    expect((await fx.get('/old')).headers['x-cache']).toBe('MISS');
  });

  it('prefers s-maxage to max-age', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=10, s-maxage=100' }));
    await fx.get('/');
    fx.clock.ms += 50_000;
    expect((await fx.get('/')).headers['x-cache']).toBe('HIT');
    expect(upstreamCalls(fx)).toBe(1);
  });

  it('honours Expires relative to Date', async () => {
    const date = new Date(Date.now()).toUTCString();
    const expires = new Date(Date.parse(date) + 20_000).toUTCString();
    const fx = await setup(answer({ date, expires }), { cache: { ttl: 0 } });
    await fx.get('/');
    fx.clock.ms += 19_000;
    expect((await fx.get('/')).headers['x-cache']).toBe('HIT');
    fx.clock.ms += 2_000;
    expect((await fx.get('/')).headers['x-cache']).toBe('MISS');
  });

  it('applies the ttl option to responses without freshness, and caches none with ttl 0', async () => {
    const fx = await setup(answer({}), { cache: { ttl: '10s' } });
    await fx.get('/');
    fx.clock.ms += 9_000;
    expect((await fx.get('/')).headers['x-cache']).toBe('HIT');
    fx.clock.ms += 2_000;
    expect((await fx.get('/')).headers['x-cache']).toBe('MISS');

    const none = await setup(answer({}), { cache: { ttl: 0 } });
    await none.get('/');
    expect((await none.get('/')).headers['x-cache']).toBe('MISS');
  });

  it('stores only cacheable statuses', async () => {
    const fx = await setup((req, res) => {
      res.statusCode = Number(req.url?.slice(1));
      res.setHeader('cache-control', 'max-age=60');
      res.end('s');
    });
    for (const status of [200, 404, 410, 302, 500, 206]) await fx.get(`/${status}`);
    const again = await Promise.all([200, 404, 410, 302, 500, 206].map((s) => fx.get(`/${s}`)));
    expect(again.map((r) => r.headers['x-cache'])).toEqual(['HIT', 'HIT', 'HIT', 'MISS', 'MISS', 'MISS']);
  });
});

describe('response cache: never one user’s response to another', () => {
  it('stores nothing marked no-store, private or no-cache, or carrying Set-Cookie', async () => {
    const cases: Record<string, Record<string, string>> = {
      '/no-store': { 'cache-control': 'no-store, max-age=60' },
      '/private': { 'cache-control': 'private, max-age=60' },
      '/no-cache': { 'cache-control': 'no-cache, max-age=60' },
      '/cookie': { 'cache-control': 'max-age=60', 'set-cookie': 'session=secret' },
      '/vary-star': { 'cache-control': 'max-age=60', vary: '*' },
    };
    const fx = await setup((req, res) => answer(cases[req.url as string] ?? {})(req, res));
    for (const path of Object.keys(cases)) {
      await fx.get(path);
      const second = await fx.get(path);
      expect(second.headers['x-cache'], path).toBe('MISS');
    }
    expect(upstreamCalls(fx)).toBe(10);
  });

  it('shares a response to an authorized request only when it says public or s-maxage', async () => {
    const cases: Record<string, string> = {
      '/max-age': 'max-age=60',
      '/public': 'public, max-age=60',
      '/s-maxage': 's-maxage=60',
      '/must-revalidate': 'must-revalidate, max-age=60',
    };
    const fx = await setup((req, res) => {
      res.setHeader('cache-control', cases[req.url as string] as string);
      res.end(`for ${req.headers.authorization}`);
    });
    const results: Record<string, string | undefined> = {};
    for (const path of Object.keys(cases)) {
      await fx.get(path, { authorization: 'Bearer alice' });
      const other = await fx.get(path, { authorization: 'Bearer bob' });
      results[path] = other.headers['x-cache'] as string;
    }
    expect(results).toEqual({ '/max-age': 'MISS', '/public': 'HIT', '/s-maxage': 'HIT', '/must-revalidate': 'HIT' });
  });

  it('applies no heuristic freshness to requests carrying cookies', async () => {
    const fx = await setup((req, res) => res.end(`hello ${req.headers.cookie}`));
    await fx.get('/', { cookie: 'user=alice' });
    const bob = await fx.get('/', { cookie: 'user=bob' });
    expect(bob.text).toBe('hello user=bob');
    expect(bob.headers['x-cache']).toBe('MISS');
  });

  it('keeps one variant per Vary value (Cookie, Accept-Language)', async () => {
    const fx = await setup((req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.setHeader('vary', 'Cookie, Accept-Language');
      res.end(`${req.headers.cookie}/${req.headers['accept-language']}`);
    });
    const users = [
      { cookie: 'user=alice', 'accept-language': 'en' },
      { cookie: 'user=bob', 'accept-language': 'en' },
      { cookie: 'user=alice', 'accept-language': 'de' },
    ];
    for (const headers of users) await fx.get('/', headers);
    for (const headers of users) {
      const reply = await fx.get('/', headers);
      expect(reply.headers['x-cache']).toBe('HIT');
      expect(reply.text).toBe(`${headers.cookie}/${headers['accept-language']}`);
    }
    expect(upstreamCalls(fx)).toBe(3);
    const carol = await fx.get('/', { cookie: 'user=carol', 'accept-language': 'en' });
    expect(carol.text).toBe('user=carol/en');
    expect(carol.headers['x-cache']).toBe('MISS');
  });

  it('keys on keyHeaders as if the response varied on them', async () => {
    const fx = await setup((req, res) => res.end(String(req.headers['x-tenant'])), {
      cache: { keyHeaders: ['X-Tenant'] },
    });
    await fx.get('/', { 'x-tenant': 'a' });
    const b = await fx.get('/', { 'x-tenant': 'b' });
    expect(b.text).toBe('b');
    expect((await fx.get('/', { 'x-tenant': 'a' })).text).toBe('a');
    expect(upstreamCalls(fx)).toBe(2);
  });

  it('bypasses the cache, without failing the request, when the key function throws', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }), {
      cache: {
        key: (req) => {
          if (req.headers['x-broken']) throw new Error('bad key');
          return undefined;
        },
      },
    });
    await fx.get('/');
    const broken = await fx.get('/', { 'x-broken': '1' });
    expect(broken.status).toBe(200);
    expect(broken.headers['x-cache']).toBe('BYPASS');
    expect((await fx.get('/')).headers['x-cache']).toBe('HIT');
  });
});

describe('response cache: requests', () => {
  it('answers HEAD from a GET entry, and never stores a HEAD response', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }, 'twelve bytes'));
    await fx.get('/h', {}, 'HEAD');
    expect((await fx.get('/h')).headers['x-cache']).toBe('MISS');
    const head = await fx.get('/h', {}, 'HEAD');
    expect(head.headers['x-cache']).toBe('HIT');
    expect(head.headers['content-length']).toBe('12');
    expect(head.body.length).toBe(0);
  });

  it('goes upstream for request no-cache (refreshing the entry) and stays out for no-store', async () => {
    let n = 0;
    const fx = await setup((_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end(String(++n));
    });
    await fx.get('/');
    const refreshed = await fx.get('/', { 'cache-control': 'no-cache' });
    expect(refreshed.text).toBe('2');
    expect((await fx.get('/')).text).toBe('2');
    const bypass = await fx.get('/', { 'cache-control': 'no-store' });
    expect(bypass.headers['x-cache']).toBe('BYPASS');
    expect(bypass.text).toBe('3');
    expect((await fx.get('/')).text).toBe('2');
  });

  it('answers 304 when If-None-Match matches the stored ETag', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60', etag: '"v1"' }));
    await fx.get('/');
    const conditional = await fx.get('/', { 'if-none-match': 'W/"v1"' });
    expect(conditional.status).toBe(304);
    expect(conditional.headers.etag).toBe('"v1"');
    expect((await fx.get('/', { 'if-none-match': '"v2"' })).status).toBe(200);
  });

  it('stays out of excluded paths (prefix and RegExp) and Range requests', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }), {
      cache: { exclude: ['/admin', /\.json$/] },
    });
    for (const path of ['/admin/users', '/data.json']) {
      await fx.get(path);
      expect((await fx.get(path)).headers['x-cache']).toBe('BYPASS');
    }
    await fx.get('/r');
    expect((await fx.get('/r', { range: 'bytes=0-1' })).headers['x-cache']).toBe('BYPASS');
  });

  it('invalidates a URL after a successful unsafe request to it', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }));
    await fx.get('/item');
    expect((await fx.get('/item')).headers['x-cache']).toBe('HIT');
    await fx.get('/item', {}, 'POST');
    expect((await fx.get('/item')).headers['x-cache']).toBe('MISS');
  });
});

describe('response cache: coalescing', () => {
  /** A handler that holds every response until `release()`, telling when the first request arrives. */
  function gated(headers: Record<string, string>, fail?: (n: number) => boolean) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let n = 0;
    const handler: Handler = (_req, res) => {
      const me = ++n;
      gate.then(() => {
        if (fail?.(me)) {
          res.destroy();
          return;
        }
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        res.end(`response ${me}`);
      });
    };
    return { handler, release };
  }

  /** Sends 50 concurrent GETs and releases the backend once all 50 are in the cache stage or beyond. */
  async function burst(fx: CacheFixture, release: () => void, entered: Promise<void>): Promise<Reply[]> {
    const replies = Promise.all(Array.from({ length: 50 }, () => fx.get('/hot')));
    await entered;
    await new Promise((resolve) => setImmediate(resolve));
    release();
    return replies;
  }

  function counting() {
    let count = 0;
    let done!: () => void;
    const entered = new Promise<void>((resolve) => {
      done = resolve;
    });
    const middleware = {
      name: 'count',
      before: 'cache' as const,
      handle: async (_ctx: unknown, next: () => Promise<void>) => {
        if (++count === 50) done();
        await next();
      },
    };
    return { entered, middleware };
  }

  it('sends one upstream request for 50 concurrent misses', async () => {
    const { handler, release } = gated({ 'cache-control': 'max-age=60' });
    const { entered, middleware } = counting();
    const fx = await setup(handler, { middleware: [middleware] });
    const events: SwitchyardEvents['cache'][] = [];
    fx.lb.on('cache', (e) => events.push(e));
    const replies = await burst(fx, release, entered);
    expect(upstreamCalls(fx)).toBe(1);
    expect(new Set(replies.map((r) => r.text))).toEqual(new Set(['response 1']));
    expect(replies.filter((r) => r.headers['x-cache'] === 'HIT')).toHaveLength(49);
    expect(events.filter((e) => e.result === 'coalesced')).toHaveLength(49);
    expect(fx.lb.cache?.stats()).toMatchObject({ coalesced: 49, misses: 1, stores: 1 });
  });

  it('sends the waiters upstream themselves when the shared response turns out uncacheable', async () => {
    const { handler, release } = gated({ 'cache-control': 'no-store' });
    const { entered, middleware } = counting();
    const fx = await setup(handler, { middleware: [middleware] });
    const replies = await burst(fx, release, entered);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(new Set(replies.map((r) => r.text)).size).toBe(50);
    expect(upstreamCalls(fx)).toBe(50);
  });

  it('sends the waiters upstream themselves when the shared request fails', async () => {
    const { handler, release } = gated({ 'cache-control': 'max-age=60' }, (n) => n === 1);
    const { entered, middleware } = counting();
    const fx = await setup(handler, { middleware: [middleware], retry: false });
    const replies = await burst(fx, release, entered);
    expect(replies.filter((r) => r.status === 502)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 200)).toHaveLength(49);
  });
});

describe('response cache: hit-for-miss (uncacheableTtl)', () => {
  /**
   * A backend answering with `headersFor(n)` (n counts its requests from 1):
   * at once while open, else held until `release()`; `inFlight(k)` resolves
   * once k requests are held at the same time.
   */
  function holdingBackend(headersFor: (n: number) => Record<string, string>, body = (n: number) => `response ${n}`) {
    let n = 0;
    let held: (() => void)[] = [];
    let open = true;
    let waiter: { count: number; resolve: () => void } | undefined;
    const handler: Handler = (_req, res) => {
      const me = ++n;
      const send = () => {
        for (const [name, value] of Object.entries(headersFor(me))) res.setHeader(name, value);
        res.end(body(me));
      };
      if (open) return send();
      held.push(send);
      if (waiter && held.length >= waiter.count) waiter.resolve();
    };
    return {
      handler,
      hold() {
        open = false;
      },
      inFlight: (count: number) =>
        new Promise<void>((resolve) => {
          waiter = { count, resolve };
          if (held.length >= count) resolve();
        }),
      release() {
        open = true;
        const all = held;
        held = [];
        for (const send of all) send();
      },
    };
  }

  /** A stage before the cache; `entered(k)` resolves once k more requests reached it. */
  function entering() {
    let count = 0;
    let waiter: { at: number; resolve: () => void } | undefined;
    const middleware = {
      name: 'count',
      before: 'cache' as const,
      handle: async (_ctx: unknown, next: () => Promise<void>) => {
        count++;
        const promise = next();
        if (waiter && count >= waiter.at) waiter.resolve();
        await promise;
      },
    };
    const entered = (k: number) =>
      new Promise<void>((resolve) => {
        waiter = { at: count + k, resolve };
      });
    return { middleware, entered };
  }

  async function fixture(
    headersFor: (n: number) => Record<string, string>,
    cache: NonNullable<LoadBalancerOptions['cache']> = {},
    body?: (n: number) => string,
  ) {
    const backend = holdingBackend(headersFor, body);
    const stage = entering();
    const fx = await setup(backend.handler, { middleware: [stage.middleware], cache, retry: false });
    return { fx, backend, stage };
  }

  /** Sends `k` concurrent GETs for `path` with the backend holding; resolves with the misses counted once all k are in the cache stage, and the replies. */
  async function burst(t: Awaited<ReturnType<typeof fixture>>, k: number, path = '/hot') {
    t.backend.hold();
    const before = t.fx.lb.cache?.stats().misses ?? 0;
    const entered = t.stage.entered(k);
    const replies = Promise.all(Array.from({ length: k }, () => t.fx.get(path)));
    await entered;
    const missesAtOnce = (t.fx.lb.cache?.stats().misses ?? 0) - before;
    return { missesAtOnce, replies };
  }

  it('sends concurrent misses for a key whose last answer was no-store upstream together, none waiting for another', async () => {
    const t = await fixture(() => ({ 'cache-control': 'no-store' }));
    expect((await t.fx.get('/hot')).status).toBe(200);
    const { missesAtOnce, replies } = await burst(t, 10);
    expect(missesAtOnce).toBe(10);
    await t.backend.inFlight(10); // all ten held by the backend at the same time
    t.backend.release();
    const done = await replies;
    expect(new Set(done.map((r) => r.text)).size).toBe(10);
    expect(done.every((r) => r.headers['x-cache'] === 'MISS')).toBe(true);
    expect(t.fx.lb.cache?.stats()).toMatchObject({ coalesced: 0, misses: 11, stores: 0 });
  });

  it.each([
    ['private', { 'cache-control': 'private, max-age=60' }],
    ['Set-Cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' }],
    ['Vary: *', { 'cache-control': 'max-age=60', vary: '*' }],
  ])('marks a key whose answer is %s', async (_name, headers) => {
    const t = await fixture(() => headers);
    await t.fx.get('/hot');
    const { missesAtOnce, replies } = await burst(t, 5);
    expect(missesAtOnce).toBe(5);
    t.backend.release();
    await replies;
  });

  it('marks a key whose answer is over maxEntryBytes', async () => {
    const t = await fixture(() => ({ 'cache-control': 'max-age=60' }), { maxEntryBytes: 4 });
    await t.fx.get('/hot');
    const { missesAtOnce, replies } = await burst(t, 5);
    expect(missesAtOnce).toBe(5);
    t.backend.release();
    expect((await replies).every((r) => r.status === 200)).toBe(true);
  });

  it('coalesces again once the mark has expired', async () => {
    const t = await fixture(() => ({ 'cache-control': 'no-store' }), { uncacheableTtl: '10s' });
    await t.fx.get('/hot');
    t.fx.clock.ms += 9_999;
    const marked = await burst(t, 3);
    expect(marked.missesAtOnce).toBe(3);
    t.backend.release();
    await marked.replies;
    t.fx.clock.ms += 10_001; // the last no-store answer renewed the mark; now it is over too
    const { missesAtOnce, replies } = await burst(t, 5);
    expect(missesAtOnce).toBe(1); // one leader; four wait for it
    t.backend.release();
    expect((await replies).every((r) => r.status === 200)).toBe(true);
  });

  it('clears the mark when an answer for the key is cacheable again', async () => {
    const t = await fixture((n) => ({ 'cache-control': n === 1 ? 'no-store' : 'max-age=1' }));
    await t.fx.get('/hot');
    expect((await t.fx.get('/hot')).headers['x-cache']).toBe('MISS'); // stored, mark gone
    t.fx.clock.ms += 1_500; // the entry is stale; the mark would still run for 8.5 s
    const { missesAtOnce, replies } = await burst(t, 5);
    expect(missesAtOnce).toBe(1);
    t.backend.release();
    const done = await replies;
    expect(new Set(done.map((r) => r.text))).toEqual(new Set(['response 3']));
    expect(t.fx.lb.cache?.stats()).toMatchObject({ coalesced: 4, stores: 2 });
  });

  it('keeps coalescing behind a no-store answer when uncacheableTtl is 0', async () => {
    const t = await fixture(() => ({ 'cache-control': 'no-store' }), { uncacheableTtl: 0 });
    await t.fx.get('/hot');
    const { missesAtOnce, replies } = await burst(t, 5);
    expect(missesAtOnce).toBe(1);
    t.backend.release();
    expect(new Set((await replies).map((r) => r.text)).size).toBe(5);
  });

  it('holds at most maxEntries marks, dropping the oldest', async () => {
    const t = await fixture(() => ({ 'cache-control': 'no-store' }), { maxEntries: 1 });
    await t.fx.get('/a');
    await t.fx.get('/b'); // pushes /a's mark out
    const b = await burst(t, 3, '/b');
    expect(b.missesAtOnce).toBe(3);
    t.backend.release();
    await b.replies;
    const a = await burst(t, 3, '/a');
    expect(a.missesAtOnce).toBe(1);
    t.backend.release();
    await a.replies;
  });

  it('forgets marks on purge', async () => {
    const t = await fixture(() => ({ 'cache-control': 'no-store' }));
    await t.fx.get('/hot');
    await t.fx.lb.cache?.purge(`${t.fx.host}/hot`);
    const { missesAtOnce, replies } = await burst(t, 3);
    expect(missesAtOnce).toBe(1);
    t.backend.release();
    await replies;
  });
});

describe('response cache: size limits', () => {
  it('keeps the bytes it holds under maxBytes however many entries arrive', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=600' }, 'x'.repeat(1000)), {
      cache: { maxBytes: 50_000, maxEntryBytes: 10_000, maxEntries: 100_000 },
    });
    const evictions: SwitchyardEvents['cache:evict'][] = [];
    fx.lb.on('cache:evict', (e) => evictions.push(e));
    for (let i = 0; i < 200; i++) {
      await fx.get(`/item/${i}`);
      expect(fx.lb.cache?.stats().bytes).toBeLessThanOrEqual(50_000);
    }
    const stats = fx.lb.cache?.stats();
    expect(stats?.stores).toBe(200);
    expect(stats?.entries).toBeGreaterThan(30);
    expect(evictions.length).toBe(200 - (stats?.entries ?? 0));
    expect(evictions.every((e) => e.reason === 'bytes')).toBe(true);
    expect((await fx.get('/item/199')).headers['x-cache']).toBe('HIT');
    expect((await fx.get('/item/0')).headers['x-cache']).toBe('MISS');
  });

  it('streams a response larger than maxEntryBytes intact and uncached, with or without Content-Length', async () => {
    const chunk = Buffer.alloc(16 * 1024, 'z');
    const fx = await setup(
      (req, res) => {
        res.setHeader('cache-control', 'max-age=60');
        if (req.url === '/sized') res.setHeader('content-length', chunk.length * 20);
        for (let i = 0; i < 19; i++) res.write(chunk);
        res.end(chunk);
      },
      { cache: { maxEntryBytes: 64 * 1024 } },
    );
    for (const path of ['/chunked', '/sized']) {
      const first = await fx.get(path);
      expect(first.body.length).toBe(chunk.length * 20);
      expect(first.body.equals(Buffer.concat(Array(20).fill(chunk)))).toBe(true);
      expect((await fx.get(path)).headers['x-cache']).toBe('MISS');
    }
    expect(fx.lb.cache?.stats()).toMatchObject({ entries: 0, stores: 0 });
  });

  it('lets the client read the body while the upstream is still sending it', async () => {
    let finish!: () => void;
    const more = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const fx = await setup((_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.write('first part|');
      more.then(() => res.end('last part'));
    });
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: fx.front.port, path: '/slow', agent: false }, (res) => {
          let text = '';
          res.on('data', (data: Buffer) => {
            if (text === '') finish();
            text += data.toString();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toBe('first part|last part');
    expect((await fx.get('/slow')).headers['x-cache']).toBe('HIT');
  });
});

describe('response cache: purge', () => {
  it('purges one key, a prefix, or everything', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=600' }));
    const paths = ['/a/1', '/a/2', '/a/2?v=1', '/b'];
    for (const path of paths) await fx.get(path);
    expect(await fx.lb.cache?.purge(`${fx.host}/a/2?v=1`)).toBe(1);
    expect((await fx.get('/a/2?v=1')).headers['x-cache']).toBe('MISS');
    expect(await fx.lb.cache?.purge(`${fx.host}/a/`)).toBe(3);
    expect((await fx.get('/a/1')).headers['x-cache']).toBe('MISS');
    expect((await fx.get('/b')).headers['x-cache']).toBe('HIT');
    expect(await fx.lb.cache?.purge()).toBe(2);
    expect(fx.lb.cache?.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

describe('cache options', () => {
  it.each([
    [{ maxBytes: 1000, maxEntryBytes: 2000 }, 'cache.maxEntryBytes'],
    [{ ttl: -1 }, 'cache.ttl'],
    [{ maxEntries: 0 }, 'cache.maxEntries'],
    [{ statuses: [99] }, 'cache.statuses[0]'],
    [{ exclude: ['admin'] }, 'cache.exclude[0]'],
    [{ keyHeaders: ['bad header'] }, 'cache.keyHeaders[0]'],
    [{ redis: true }, 'cache.redis'],
    [{ uncacheableTtl: -1 }, 'cache.uncacheableTtl'],
  ])('refuses %j with a ConfigError at %s', (cache, path) => {
    expect(() => createLoadBalancer({ cache: cache as never })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', path }),
    );
  });

  it('is absent from the pipeline, and lb.cache undefined, unless configured', async () => {
    const off = createLoadBalancer({});
    expect(off.pipeline).not.toContain('cache');
    expect(off.cache).toBeUndefined();
    const re = /\.json$/g;
    const on = createLoadBalancer({ cache: { exclude: [re] } });
    expect(on.pipeline).toContain('cache');
    expect(Object.isFrozen(re)).toBe(false);
    await Promise.all([off.close(), on.close()]);
  });
});

describeRedis('response cache shared through Redis', () => {
  const prefix = uniquePrefix('cache');
  const made: CacheFixture[] = [];

  afterEach(async () => {
    const client = testClient();
    await deleteKeys(client, prefix);
    await client.quit();
  });

  async function pair(): Promise<[CacheFixture, CacheFixture]> {
    const handler = answer({ 'cache-control': 'max-age=60' }, (req) => `shared ${req.url}`);
    for (let i = 0; i < 2; i++) {
      const fx = await setup(handler, {
        redis: { url: REDIS_URL, keyPrefix: prefix },
        cache: { redis: true },
      });
      await new Promise<void>((resolve) => fx.lb.on('redis', (e) => e.state === 'ready' && resolve()));
      made.push(fx);
    }
    return made.splice(0) as [CacheFixture, CacheFixture];
  }

  it('serves on one instance what another fetched, and purges it everywhere', async () => {
    const [one, two] = await pair();
    expect((await one.get('/p')).headers['x-cache']).toBe('MISS');
    const fromRedis = await two.get('/p', { host: one.host });
    expect(fromRedis.headers['x-cache']).toBe('HIT');
    expect(fromRedis.text).toBe('shared /p');
    expect(upstreamCalls(one) + upstreamCalls(two)).toBe(1);
    // Now in two's memory too: a purge on one must reach it.
    const evicted = new Promise<void>((resolve) => two.lb.on('cache:evict', (e) => e.reason === 'purge' && resolve()));
    expect(await one.lb.cache?.purge(`${one.host}/p`)).toBeGreaterThanOrEqual(1);
    await evicted;
    expect((await two.get('/p', { host: one.host })).headers['x-cache']).toBe('MISS');
  });
  it('stores entries under the key prefix with a PX TTL, and a POST on one instance invalidates them on all', async () => {
    const [one, two] = await pair();
    await one.get('/q');
    expect((await two.get('/q', { host: one.host })).headers['x-cache']).toBe('HIT');
    const client = testClient();
    const keys = await client.keys(`${prefix}cache:*`);
    const ttl = await client.pttl(keys[0] as string);
    await client.quit();
    expect(keys).toEqual([`${prefix}cache:${one.host}/q`]);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const evicted = new Promise<void>((resolve) => two.lb.on('cache:evict', (e) => e.reason === 'purge' && resolve()));
    await one.get('/q', {}, 'POST');
    await evicted;
    expect((await two.get('/q', { host: one.host })).headers['x-cache']).toBe('MISS');
  });
});

describe('response cache with sticky sessions', () => {
  it('never stores or replays the sticky cookie given to the client that filled the entry', async () => {
    const fx = await setup(answer({ 'cache-control': 'max-age=60' }), {
      sticky: { mode: 'cookie', secret: 'a-secret-of-at-least-thirty-two-characters', cookieName: 'lb' },
    });
    const first = await fx.get('/');
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['set-cookie']?.[0]).toMatch(/^lb=/);
    const second = await fx.get('/');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers['set-cookie']).toBeUndefined();
  });
});
