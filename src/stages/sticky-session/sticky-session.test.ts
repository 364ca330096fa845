import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Backend } from '../../core/backend.js';
import type { Middleware } from '../../core/compose.js';
import { Context } from '../../core/context.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import { Pool } from '../../upstream/pool/pool.js';
import { roundRobin } from '../../upstream/strategies/round-robin.js';
import { buildPipeline } from '../pipeline.js';
import { select } from '../select/middleware.js';
import { stickySchema } from './options.js';
import { MemorySessionStore } from './session-store.js';
import { stickySession } from './sticky-session.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

/** A pool of backends a, b, c, the sticky and select stages, and a forward stage that answers with the backend id. */
function harness(options: object, wallClock: () => number = Date.now) {
  let clock = 1000;
  const now = () => clock;
  const strategy = roundRobin<Backend>();
  const pool = new Pool(strategy, now);
  const backends = ['a', 'b', 'c'].map(
    (id) =>
      new Backend({
        id,
        url: new URL(`http://${id}.test`),
        weight: 1,
        maxConnections: Number.POSITIVE_INFINITY,
        agent: new Agent(),
      }),
  );
  for (const backend of backends) pool.add(backend);
  const events = new Events();
  const sticky: SwitchyardEvents['sticky'][] = [];
  events.on('sticky', (e) => sticky.push(e));
  const resolved = stickySchema.parse(options);
  if (!resolved) throw new Error('sticky options expected');
  const store = resolved.mode === 'cookie' ? undefined : new MemorySessionStore({ maxEntries: 100, now });
  const forward: Middleware = async function forward(ctx) {
    ctx.reply(200, (ctx.backend as Backend).id);
  };
  const pipeline = buildPipeline(
    {
      'sticky-session': {
        middleware: stickySession(resolved, {
          backend: (id) => pool.get(id),
          events,
          trust: () => false,
          store,
          wallClock,
        }),
      },
      select: { middleware: select(pool, strategy, now) },
      forward: { middleware: forward },
    },
    [],
  );
  async function send(headers: Record<string, string> = {}, ip = '10.0.0.1') {
    const req = { method: 'GET', headers, socket: { remoteAddress: ip } } as unknown as IncomingMessage;
    const ctx = new Context(req, {} as ServerResponse, '/', ip, now());
    ctx.upstreamHeaders = { ...headers };
    await pipeline.run(ctx);
    const setCookie = ctx.response?.headers['set-cookie'] as string[] | undefined;
    return { backend: ctx.backend?.id, setCookie: setCookie?.[0], upstream: ctx.upstreamHeaders };
  }
  return {
    pool,
    backends,
    sticky,
    send,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

function cookieOf(setCookie: string | undefined): string {
  if (!setCookie) throw new Error('expected a Set-Cookie');
  return setCookie.slice(0, setCookie.indexOf(';'));
}

describe('stickySession (cookie mode)', () => {
  it('keeps a client on its backend and does not forward the sticky cookie', async () => {
    const h = harness({ mode: 'cookie', secret: SECRET, cookieName: 'lb' });
    const first = await h.send();
    const cookie = cookieOf(first.setCookie);
    for (let i = 0; i < 20; i++) {
      const next = await h.send({ cookie: `theme=dark; ${cookie}` });
      expect(next.backend).toBe(first.backend);
      expect(next.setCookie).toBeUndefined();
      expect(next.upstream.cookie).toBe('theme=dark');
    }
    expect(h.sticky.map((e) => e.result)).toEqual(['new', ...Array(20).fill('hit')]);
  });

  const states: Array<[string, (b: Backend, h: ReturnType<typeof harness>) => void]> = [
    [
      'unhealthy',
      (b, h) => {
        h.pool.mark(b, { unhealthy: true });
      },
    ],
    [
      'ejected',
      (b, h) => {
        h.pool.mark(b, { ejectedUntil: Number.MAX_SAFE_INTEGER });
      },
    ],
    [
      'breaker open',
      (b, h) => {
        h.pool.mark(b, { breakerOpen: true });
      },
    ],
    [
      'draining',
      (b, h) => {
        h.pool.mark(b, { draining: true });
      },
    ],
    [
      'removed',
      (b, h) => {
        h.pool.delete(b);
      },
    ],
    [
      'at its connection limit',
      (b) => {
        b.maxConnections = 1;
        b.active = 1;
      },
    ],
  ];
  for (const [state, apply] of states) {
    it(`falls back to the strategy when the backend is ${state}, and sticks to the new one`, async () => {
      const h = harness({ mode: 'cookie', secret: SECRET, cookieName: 'lb' });
      const first = await h.send();
      const original = h.backends.find((b) => b.id === first.backend) as Backend;
      apply(original, h);
      h.pool.changed(true);
      const moved = await h.send({ cookie: cookieOf(first.setCookie) });
      expect(moved.backend).not.toBe(original.id);
      expect(moved.backend).toBeDefined();
      const cookie = cookieOf(moved.setCookie);
      for (let i = 0; i < 5; i++) expect((await h.send({ cookie })).backend).toBe(moved.backend);
      expect(h.sticky[1]).toEqual({ result: 'fallback', backend: moved.backend });
    });
  }

  it('treats a forged or tampered cookie as no session', async () => {
    const h = harness({ mode: 'cookie', secret: SECRET, cookieName: 'lb' });
    const forged = `${Buffer.from('c').toString('base64url')}.zzzzzz.${'A'.repeat(22)}`;
    const served = [];
    for (let i = 0; i < 3; i++) served.push((await h.send({ cookie: `lb=${forged}` })).backend);
    // Round robin decides, exactly as without a cookie: the forged one names c every time.
    expect(served).toEqual(['a', 'b', 'c']);
    expect(h.sticky.map((e) => e.result)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  it('starts a new session once the cookie has expired', async () => {
    let wall = Date.parse('2030-01-01T00:00:00Z');
    const h = harness({ mode: 'cookie', secret: SECRET, cookieName: 'lb', ttl: '10s' }, () => wall);
    const first = await h.send();
    const cookie = cookieOf(first.setCookie);
    wall += 4_000;
    expect((await h.send({ cookie })).setCookie).toBeUndefined();
    // Past half the TTL, a hit renews the cookie.
    wall += 2_000;
    const renewed = await h.send({ cookie });
    expect(renewed.backend).toBe(first.backend);
    expect(renewed.setCookie).toMatch(/Max-Age=10/);
    wall += 20_000;
    const after = await h.send({ cookie: cookieOf(renewed.setCookie) });
    expect(h.sticky.map((e) => e.result)).toEqual(['new', 'hit', 'hit', 'new']);
    expect(after.setCookie).toBeDefined();
  });
});

describe('stickySession (header and ip modes)', () => {
  it('maps a header session id to a backend, and falls back when it is gone', async () => {
    const h = harness({ mode: 'header', header: 'X-Session' });
    const alice = await h.send({ 'x-session': 'alice' });
    const bob = await h.send({ 'x-session': 'bob' });
    expect(alice.backend).not.toBe(bob.backend);
    for (let i = 0; i < 10; i++) {
      expect((await h.send({ 'x-session': 'alice' })).backend).toBe(alice.backend);
      expect((await h.send({ 'x-session': 'bob' })).backend).toBe(bob.backend);
    }
    const gone = h.backends.find((b) => b.id === alice.backend) as Backend;
    h.pool.mark(gone, { unhealthy: true });
    h.pool.changed();
    const moved = (await h.send({ 'x-session': 'alice' })).backend;
    expect(moved).not.toBe(alice.backend);
    h.pool.mark(gone, { unhealthy: false });
    h.pool.changed();
    expect((await h.send({ 'x-session': 'alice' })).backend).toBe(moved);
  });

  it('forgets a session after its TTL without traffic', async () => {
    const h = harness({ mode: 'ip', ttl: '10s' });
    const first = await h.send({}, '10.0.0.7');
    h.advance(9_000);
    expect((await h.send({}, '10.0.0.7')).backend).toBe(first.backend);
    h.advance(10_001);
    await h.send({}, '10.0.0.7');
    expect(h.sticky.map((e) => e.result)).toEqual(['new', 'hit', 'new']);
  });

  it('keys ip sessions on the IPv4 address however the socket reports it', async () => {
    const h = harness({ mode: 'ip' });
    const first = await h.send({}, '::ffff:10.0.0.9');
    await h.send({}, '10.0.0.1');
    expect((await h.send({}, '10.0.0.9')).backend).toBe(first.backend);
  });
});
