import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type SwitchyardEvents } from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { type Fixture, setup } from './fixture.js';
import { type Listening, listen, type Reply, request } from './helpers.js';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from './redis.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const backendOf = (reply: Reply) => reply.json<{ backend: string }>().backend;

function stickyCookie(reply: Reply, name = 'lb'): string {
  const header = reply.headers['set-cookie']?.find((c) => c.startsWith(`${name}=`));
  if (!header) throw new Error(`no ${name} cookie in ${JSON.stringify(reply.headers['set-cookie'])}`);
  return header.slice(0, header.indexOf(';'));
}

describe('sticky sessions, cookie mode', () => {
  it('keeps a client on one backend over 1,000 requests', async () => {
    fx = await setup(['a', 'b', 'c'], { sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' } });
    const first = await request(fx.front.port);
    const cookie = stickyCookie(first);
    const target = backendOf(first);
    const seen = new Set<string>();
    for (let batch = 0; batch < 20; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () => request(fx!.front.port, { headers: { cookie } })),
      );
      for (const reply of replies) seen.add(backendOf(reply));
    }
    expect([...seen]).toEqual([target]);
    const served = fx.backends.find((b) => b.id === target) as TestBackend;
    expect(served.requests).toHaveLength(1001);
    expect(seen.size).toBe(1);
    // The balancer's cookie stays between the client and the balancer.
    expect(served.requests.every((r) => r.headers.cookie === undefined)).toBe(true);
    await request(fx.front.port, { headers: { cookie: `${cookie}; a=1; ${cookie}; b=2` } });
    expect(served.requests.at(-1)?.headers.cookie).toBe('a=1; b=2');
  });

  it('sets HttpOnly, SameSite=Lax, Path and Max-Age, and Secure only for HTTPS clients', async () => {
    fx = await setup(['a'], {
      sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb', ttl: '30m' },
      trustProxy: true,
    });
    const plain = (await request(fx.front.port)).headers['set-cookie']?.[0];
    expect(plain).toMatch(/^lb=[\w-]+\.[0-9a-z]+\.[\w-]{22}; Path=\/; Max-Age=1800; HttpOnly; SameSite=Lax$/);
    const proxied = (await request(fx.front.port, { headers: { 'x-forwarded-proto': 'https' } })).headers['set-cookie'];
    expect(proxied?.[0]).toMatch(/; Secure$/);
  });

  it('ignores X-Forwarded-Proto from an untrusted peer', async () => {
    fx = await setup(['a'], { sticky: { mode: 'cookie', secret: SECRET } });
    const reply = await request(fx.front.port, { headers: { 'x-forwarded-proto': 'https' } });
    expect(reply.headers['set-cookie']?.[0]).not.toMatch(/Secure/);
  });

  it('keeps the backend’s own Set-Cookie next to its own', async () => {
    const app = createMemoryBackend({
      id: 'app',
      handler: (_req, res) => {
        res.setHeader('set-cookie', ['session=abc; HttpOnly', 'theme=dark']);
        res.end('ok');
      },
    });
    const lb = createLoadBalancer({
      backends: [app.config],
      sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' },
    });
    const front = await listen(lb.handler);
    try {
      const reply = await request(front.port);
      expect(reply.headers['set-cookie']).toHaveLength(3);
      expect(reply.headers['set-cookie']?.slice(0, 2)).toEqual(['session=abc; HttpOnly', 'theme=dark']);
    } finally {
      await front.close();
      await lb.close();
      await app.close();
    }
  });

  it('falls back when the backend is removed, then sticks to the new one', async () => {
    fx = await setup(['a', 'b', 'c'], { sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' } });
    const events: SwitchyardEvents['sticky'][] = [];
    fx.lb.on('sticky', (e) => events.push(e));
    const first = await request(fx.front.port);
    await fx.lb.removeBackend(backendOf(first));
    const moved = await request(fx.front.port, { headers: { cookie: stickyCookie(first) } });
    expect(moved.status).toBe(200);
    expect(backendOf(moved)).not.toBe(backendOf(first));
    const cookie = stickyCookie(moved);
    for (let i = 0; i < 10; i++) {
      expect(backendOf(await request(fx.front.port, { headers: { cookie } }))).toBe(backendOf(moved));
    }
    expect(events.slice(0, 3).map((e) => e.result)).toEqual(['new', 'fallback', 'hit']);
  });

  it('lets a retry leave a backend that is down, and moves the session', async () => {
    fx = await setup(['a', 'b'], { sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' } });
    const first = await request(fx.front.port);
    const original = fx.backends.find((b) => b.id === backendOf(first)) as TestBackend;
    await original.down();
    const moved = await request(fx.front.port, { headers: { cookie: stickyCookie(first) } });
    expect(moved.status).toBe(200);
    expect(backendOf(moved)).not.toBe(original.id);
    await original.up();
    // The session now lives on the backend that answered.
    const cookie = stickyCookie(moved);
    for (let i = 0; i < 5; i++) {
      expect(backendOf(await request(fx.front.port, { headers: { cookie } }))).toBe(backendOf(moved));
    }
  });

  it('never routes a forged or tampered cookie to the backend it names', async () => {
    fx = await setup(['a', 'b', 'c'], { sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' } });
    const events: SwitchyardEvents['sticky'][] = [];
    fx.lb.on('sticky', (e) => events.push(e));
    const genuine = stickyCookie(await request(fx.front.port)); // served by a; the rotation is at b
    const [, expiry, sig] = genuine.slice(3).split('.') as [string, string, string];
    const forged = [
      `lb=${Buffer.from('c').toString('base64url')}.${expiry}.${sig}`,
      `lb=${Buffer.from('c').toString('base64url')}.zzzzzzz.${'A'.repeat(22)}`,
      'lb=c',
      `lb=${'%'.repeat(400)}`,
    ];
    const served: string[] = [];
    for (const cookie of forged) {
      const reply = await request(fx.front.port, { headers: { cookie } });
      expect(reply.status).toBe(200);
      served.push(backendOf(reply));
      // A fresh, genuine session replaces the forged one.
      expect(reply.headers['set-cookie']?.[0]).toMatch(/^lb=/);
    }
    expect(served).toEqual(['b', 'c', 'a', 'b']);
    expect(events.slice(1).map((e) => e.result)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  });

  it('handles a huge or malformed Cookie header without failing', async () => {
    fx = await setup(['a', 'b'], { sticky: { mode: 'cookie', secret: SECRET, cookieName: 'lb' } });
    const genuine = stickyCookie(await request(fx.front.port));
    const filler = `x=${'y'.repeat(15_000)}`;
    const cases = [`${genuine}; ${filler}`, `${filler}; ${genuine}`, ';;;==;lb;lb=;=lb', `lb="${'"'.repeat(100)}`];
    const statuses = [];
    for (const cookie of cases) statuses.push((await request(fx.front.port, { headers: { cookie } })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    // Within the scan limit the session holds; past it, it is simply not seen.
    const within = await request(fx.front.port, { headers: { cookie: `${genuine}; ${filler}` } });
    expect(backendOf(within)).toBe('a');
  });
});

describe('sticky sessions, header and ip modes', () => {
  it('routes each header session to its own backend', async () => {
    fx = await setup(['a', 'b', 'c'], { sticky: { mode: 'header', header: 'x-session-id' } });
    const owner = new Map<string, string>();
    for (let round = 0; round < 5; round++) {
      for (const user of ['u1', 'u2', 'u3', 'u4']) {
        const backend = backendOf(await request(fx.front.port, { headers: { 'x-session-id': user } }));
        if (round === 0) owner.set(user, backend);
        else expect(backend).toBe(owner.get(user));
      }
    }
    expect(new Set(owner.values()).size).toBe(3);
  });

  it('starts a header session from the id the backend assigns', async () => {
    let next = 0;
    const handler =
      (id: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
        if (!req.headers['x-session-id']) res.setHeader('x-session-id', `s${++next}`);
        res.end(JSON.stringify({ backend: id }));
      };
    const backends = ['a', 'b'].map((id) => createMemoryBackend({ id, handler: handler(id) }));
    const lb = createLoadBalancer({
      strategy: 'round-robin',
      backends: backends.map((b) => b.config),
      sticky: { mode: 'header' },
    });
    const front = await listen(lb.handler);
    try {
      const login = await request(front.port);
      const id = login.headers['x-session-id'] as string;
      for (let i = 0; i < 5; i++) {
        expect(backendOf(await request(front.port, { headers: { 'x-session-id': id } }))).toBe(backendOf(login));
      }
    } finally {
      await front.close();
      await lb.close();
      await Promise.all(backends.map((b) => b.close()));
    }
  });

  it('keeps an ip session on one backend', async () => {
    fx = await setup(['a', 'b', 'c'], { sticky: { mode: 'ip' } });
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(backendOf(await request(fx.front.port)));
    expect(seen.size).toBe(1);
  });
});

describe('sticky options', () => {
  it.each([
    [{ mode: 'cookie', secret: 'short' }, 'sticky.secret'],
    [{ ttl: -5 }, 'sticky.ttl'],
    [{ ttl: 0 }, 'sticky.ttl'],
    [{ mode: 'bogus' }, 'sticky.mode'],
    [{ sameSite: 'lax' }, 'sticky.sameSite'],
    [{ cookieName: 'a b' }, 'sticky.cookieName'],
    [{ header: 'x y', mode: 'header' }, 'sticky.header'],
    [{ maxEntries: 0 }, 'sticky.maxEntries'],
    [{ mode: 'ip', redis: true }, 'sticky.redis'],
  ])('refuses %j with a ConfigError at %s', (sticky, path) => {
    expect(() => createLoadBalancer({ sticky: sticky as never })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', path }),
    );
  });

  it('requires a shared secret in cookie mode with redis', () => {
    expect(() => createLoadBalancer({ redis: REDIS_URL, sticky: { mode: 'cookie' } })).toThrow(
      expect.objectContaining({ path: 'sticky.secret' }),
    );
  });

  it('is absent from the pipeline unless configured', () => {
    const off = createLoadBalancer({ sticky: false });
    expect(off.pipeline).not.toContain('sticky-session');
    const on = createLoadBalancer({ sticky: { mode: 'ip' } });
    expect(on.pipeline).toContain('sticky-session');
    return Promise.all([off.close(), on.close()]);
  });
});

describeRedis('sticky sessions shared through Redis', () => {
  const prefix = uniquePrefix('sticky');
  const made: Array<{ lb: LoadBalancer; front: Listening }> = [];
  let backends: TestBackend[] = [];

  afterEach(async () => {
    for (const { lb, front } of made.splice(0)) {
      await front.close();
      await lb.close();
    }
    await Promise.all(backends.map((b) => b.close()));
    const client = testClient();
    await deleteKeys(client, prefix);
    await client.quit();
  });

  /** Two balancers over the same backends, the second one's rotation one step ahead. */
  async function pair(sticky: object, secrets: [string, string] = [SECRET, SECRET]) {
    backends = ['a', 'b', 'c'].map((id) => createMemoryBackend({ id }));
    for (const secret of secrets) {
      const lb = createLoadBalancer({
        strategy: 'round-robin',
        backends: backends.map((b) => b.config),
        redis: { url: REDIS_URL, keyPrefix: prefix },
        trustProxy: true,
        sticky: { ...sticky, ...('mode' in sticky && sticky.mode === 'cookie' ? { secret } : {}) },
      });
      const ready = new Promise<void>((resolve) => lb.on('redis', (e) => e.state === 'ready' && resolve()));
      made.push({ lb, front: await listen(lb.handler) });
      await ready;
    }
    const one = made[0] as { front: Listening };
    const two = made[1] as { front: Listening };
    await request(two.front.port, { headers: { 'x-session-id': 'warm-up', 'x-forwarded-for': '10.9.9.9' } });
    return [one.front.port, two.front.port] as const;
  }

  it('routes a header session alike on every instance', async () => {
    const [one, two] = await pair({ mode: 'header' });
    const first = backendOf(await request(one, { headers: { 'x-session-id': 'alice' } }));
    expect(first).toBe('a');
    // two's own rotation would say b.
    for (let i = 0; i < 10; i++) {
      expect(backendOf(await request(i % 2 ? one : two, { headers: { 'x-session-id': 'alice' } }))).toBe('a');
    }
    const client = testClient();
    const keys = await client.keys(`${prefix}sticky:header:*`);
    await client.quit();
    expect(keys.sort()).toEqual([`${prefix}sticky:header:alice`, `${prefix}sticky:header:warm-up`]);
  });

  it('routes an ip session alike on every instance', async () => {
    const [one, two] = await pair({ mode: 'ip' });
    const headers = { 'x-forwarded-for': '203.0.113.5' };
    const first = backendOf(await request(two, { headers }));
    expect(first).toBe('b');
    // one's own rotation would say a.
    for (let i = 0; i < 10; i++) expect(backendOf(await request(i % 2 ? two : one, { headers }))).toBe('b');
  });

  it('honours a cookie on every instance that shares the secret, and on none that does not', async () => {
    const [one, two] = await pair({ mode: 'cookie', cookieName: 'lb' });
    const first = await request(one);
    const cookie = stickyCookie(first);
    for (let i = 0; i < 6; i++) {
      expect(backendOf(await request(i % 2 ? one : two, { headers: { cookie } }))).toBe(backendOf(first));
    }
  });

  it('rejects a cookie signed with another instance’s secret', async () => {
    const [one, two] = await pair({ mode: 'cookie', cookieName: 'lb' }, [
      SECRET,
      'another-secret-of-at-least-thirty-two-chars',
    ]);
    const first = await request(one); // a
    // two's rotation is at b after the warm-up; it must not take one's cookie.
    const reply = await request(two, { headers: { cookie: stickyCookie(first) } });
    expect(backendOf(reply)).toBe('b');
  });
});
