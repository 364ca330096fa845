import { existsSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { ConfigError, createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { testCertificate } from './certs.js';
import { type Listening, listen, type Reply, rawExchange, request } from './helpers.js';

const TOKEN = 'dashboard-token-0123456789abcdef';
const assets = inject('dashboardAssets');

let lb: LoadBalancer | undefined;
let admin: Listening | undefined;
let proxy: Listening | undefined;
let backends: MemoryBackend[] = [];

async function start(dashboard: object | boolean = { assets }, adminOptions: object = {}) {
  backends = ['a', 'b', 'c'].map((id) => createMemoryBackend({ id }));
  lb = createLoadBalancer({ strategy: 'round-robin', backends: backends.map((b) => b.config) });
  admin = await listen(lb.admin({ token: TOKEN, dashboard, ...adminOptions }));
  proxy = await listen(lb.handler);
  return { lb, port: admin.port };
}

afterEach(async () => {
  vi.useRealTimers();
  await admin?.close();
  await proxy?.close();
  await lb?.close();
  await Promise.all(backends.map((b) => b.close()));
  lb = undefined;
  admin = undefined;
  proxy = undefined;
});

interface Call {
  body?: unknown;
  cookie?: string;
  csrf?: string;
  bearer?: boolean;
  headers?: Record<string, string>;
}

function call(port: number, method: string, path: string, options: Call = {}): Promise<Reply> {
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.csrf) headers['x-csrf-token'] = options.csrf;
  if (options.bearer) headers.authorization = `Bearer ${TOKEN}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  return request(port, { method, path, headers, ...(body === undefined ? {} : { body }) });
}

/** Logs in like the page does; returns the cookie pair and the CSRF token. */
async function login(port: number, prefix = ''): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const reply = await call(port, 'POST', `${prefix}/session`, {
    body: { token: TOKEN },
    headers: { 'sec-fetch-site': 'same-origin', origin: `http://127.0.0.1:${port}` },
  });
  expect(reply.status).toBe(201);
  const setCookie = String(reply.headers['set-cookie']);
  return {
    cookie: setCookie.split(';')[0] as string,
    csrf: reply.json<{ session: { csrfToken: string } }>().session.csrfToken,
    setCookie,
  };
}

function code(reply: Reply): string {
  return reply.json<{ error: { code: string } }>().error.code;
}

describe('dashboard: assets', () => {
  it('serves the page without a token, with a strict CSP, no inline script and revalidation', async () => {
    const { port } = await start();
    const page = await call(port, 'GET', '/dashboard/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-frame-options']).toBe('DENY');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    // Every script is an external file from the same folder; no inline handlers or styles.
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBe(1);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/src="assets\/app-[\w-]+\.js"/);
      expect(body?.trim()).toBe('');
    }
    expect(page.text).not.toMatch(/\son\w+=|style=|https?:\/\//);

    const again = await call(port, 'GET', '/dashboard/', { headers: { 'if-none-match': String(page.headers.etag) } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it('serves hashed assets with their type and a year of immutable caching, gzipped when asked', async () => {
    const { port } = await start();
    const page = await call(port, 'GET', '/dashboard/index.html');
    const js = /src="(assets\/app-[\w-]+\.js)"/.exec(page.text)?.[1] as string;
    const css = /href="(assets\/app-[\w-]+\.css)"/.exec(page.text)?.[1] as string;
    const script = await call(port, 'GET', `/dashboard/${js}`);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.headers['x-content-type-options']).toBe('nosniff');
    const style = await call(port, 'GET', `/dashboard/${css}`, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(style.headers['content-encoding']).toBe('gzip');
    expect(style.headers.vary).toBe('accept-encoding');
    const head = await call(port, 'HEAD', `/dashboard/${js}`);
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(script.body.length);
    expect((await call(port, 'GET', '/dashboard/assets/nope.js')).status).toBe(404);
    expect((await call(port, 'POST', '/dashboard/')).status).toBe(405);
  });

  it('redirects /dashboard to dashboard/ relatively, so any mount path works', async () => {
    const { port } = await start();
    const reply = await rawExchange(port, `GET /dashboard HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 308 /);
    expect(reply).toMatch(/\r\nlocation: dashboard\/\r\n/i);
  });

  it('says the dashboard is not built when its folder has no page', async () => {
    const { port } = await start({ assets: '/nonexistent/switchyard-dashboard' });
    const reply = await call(port, 'GET', '/dashboard/');
    expect(reply.status).toBe(501);
    expect(code(reply)).toBe('ERR_NOT_IMPLEMENTED');
  });

  it('does not exist unless asked for', async () => {
    backends = [createMemoryBackend({ id: 'a' })];
    lb = createLoadBalancer({ backends: backends.map((b) => b.config) });
    admin = await listen(lb.admin({ token: TOKEN }));
    expect((await call(admin.port, 'GET', '/dashboard/')).status).toBe(401);
    expect((await call(admin.port, 'GET', '/stats', { bearer: true })).status).toBe(404);
    expect((await call(admin.port, 'POST', '/session', { body: { token: TOKEN } })).status).toBe(401);
  });

  it('rejects bad dashboard options with the option path', () => {
    backends = [createMemoryBackend({ id: 'a' })];
    lb = createLoadBalancer({ backends: backends.map((b) => b.config) });
    const bad = lb as LoadBalancer;
    expect(() => bad.admin({ token: TOKEN, dashboard: { sessionIdleTimeout: 'soon' } as never })).toThrow(ConfigError);
    try {
      bad.admin({ token: TOKEN, dashboard: { sessionIdleTimeout: 'soon' } as never });
    } catch (error) {
      expect((error as ConfigError).path).toBe('admin.dashboard.sessionIdleTimeout');
    }
  });
});

describe('dashboard: sessions', () => {
  it('opens a session with the token: an HttpOnly SameSite=Strict cookie, no Secure over plain HTTP', async () => {
    const { port } = await start();
    const { setCookie, csrf } = await login(port);
    expect(setCookie).toMatch(/^switchyard_session=[\w-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect(csrf).toMatch(/^[\w-]{43}$/);
    expect(setCookie).not.toContain(TOKEN);
  });

  it('marks the cookie Secure when told to (TLS terminated in front) and scopes it to the prefix', async () => {
    const { port } = await start({ assets, secureCookie: true }, { prefix: '/admin' });
    const { setCookie } = await login(port, '/admin');
    expect(setCookie).toContain('; Path=/admin;');
    expect(setCookie).toMatch(/; Secure$/);
    expect((await call(port, 'GET', '/admin/dashboard/')).status).toBe(200);
  });

  // A throwaway self-signed certificate from the openssl CLI (skipped without it).
  it.skipIf(!existsSync('/usr/bin/openssl'))('marks the cookie Secure by itself over HTTPS', async () => {
    const { key, cert } = testCertificate();
    backends = [createMemoryBackend({ id: 'a' })];
    lb = createLoadBalancer({ backends: backends.map((b) => b.config) });
    const server = https.createServer({ key, cert }, lb.admin({ token: TOKEN, dashboard: { assets } }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const setCookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ token: TOKEN });
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/session',
          rejectUnauthorized: false,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.headers['set-cookie'])));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    expect(setCookie).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
  });

  it('refuses a wrong token with 401 and no cookie', async () => {
    const { port } = await start();
    for (const body of [{ token: 'x'.repeat(32) }, { token: 12 }, {}, null]) {
      const reply = await call(port, 'POST', '/session', { body });
      expect(reply.status).toBe(401);
      expect(reply.headers['set-cookie']).toBeUndefined();
    }
  });

  it('lets the session read the API and answers GET /session with the CSRF token and the routes', async () => {
    const { port } = await start();
    expect((await call(port, 'GET', '/session')).json()).toEqual({ session: null });
    const { cookie, csrf } = await login(port);
    const backends = await call(port, 'GET', '/backends', { cookie });
    expect(backends.status).toBe(200);
    const session = (await call(port, 'GET', '/session', { cookie })).json<{
      session: { csrfToken: string };
      api: string[];
    }>();
    expect(session.session.csrfToken).toBe(csrf);
    expect(session.api).toEqual(expect.arrayContaining(['/backends', '/stats', '/events', '/rollout/status']));
  });

  it('needs the CSRF token on every mutation made with the cookie', async () => {
    const { port } = await start();
    const { cookie, csrf } = await login(port);
    const without = await call(port, 'PATCH', '/backends/a', { cookie, body: { weight: 5 } });
    expect(without.status).toBe(403);
    expect(code(without)).toBe('ERR_CSRF');
    const wrong = await call(port, 'PATCH', '/backends/a', { cookie, csrf: 'x'.repeat(43), body: { weight: 5 } });
    expect(wrong.status).toBe(403);
    expect(lb?.backends().find((b) => b.id === 'a')?.weight).toBe(1);
    const right = await call(port, 'PATCH', '/backends/a', { cookie, csrf, body: { weight: 5 } });
    expect(right.status).toBe(200);
    expect(lb?.backends().find((b) => b.id === 'a')?.weight).toBe(5);
  });

  it('refuses cross-site mutations by fetch metadata or Origin, even with a valid token', async () => {
    const { port } = await start();
    const { cookie, csrf } = await login(port);
    for (const headers of <Record<string, string>[]>[
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.example' },
      { origin: 'null' },
    ]) {
      const reply = await call(port, 'POST', '/backends/a/drain', { cookie, csrf, headers });
      expect(reply.status).toBe(403);
      expect(code(reply)).toBe('ERR_CSRF');
      const bearer = await call(port, 'POST', '/backends/a/drain', { bearer: true, headers });
      expect(bearer.status).toBe(403);
      // Login itself is a mutation: no login CSRF.
      expect((await call(port, 'POST', '/session', { body: { token: TOKEN }, headers })).status).toBe(403);
    }
    expect(lb?.backends().map((b) => b.status)).toEqual(['healthy', 'healthy', 'healthy']);
  });

  it('keeps the bearer token working for scripts, cookie or not', async () => {
    const { port } = await start();
    const reply = await call(port, 'PATCH', '/backends/b', { bearer: true, body: { weight: 3 } });
    expect(reply.status).toBe(200);
    expect((await call(port, 'GET', '/backends')).status).toBe(401);
  });

  it('ends a session after the idle timeout and after its lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { port } = await start({ assets, sessionIdleTimeout: '10m', sessionLifetime: '1h' });
    const idle = await login(port);
    vi.setSystemTime(Date.now() + 9 * 60_000);
    expect((await call(port, 'GET', '/backends', { cookie: idle.cookie })).status).toBe(200);
    vi.setSystemTime(Date.now() + 10 * 60_000);
    expect((await call(port, 'GET', '/backends', { cookie: idle.cookie })).status).toBe(401);

    const busy = await login(port);
    for (let i = 0; i < 6; i++) {
      vi.setSystemTime(Date.now() + 9 * 60_000);
      expect((await call(port, 'GET', '/backends', { cookie: busy.cookie })).status).toBe(200);
    }
    vi.setSystemTime(Date.now() + 9 * 60_000);
    expect((await call(port, 'GET', '/backends', { cookie: busy.cookie })).status).toBe(401);
  });

  it('logs out: the cookie is cleared and stops working', async () => {
    const { port } = await start();
    const { cookie, csrf } = await login(port);
    expect((await call(port, 'DELETE', '/session', { cookie })).status).toBe(403);
    const out = await call(port, 'DELETE', '/session', { cookie, csrf });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^switchyard_session=; Path=\/; Max-Age=0; HttpOnly/);
    expect((await call(port, 'GET', '/backends', { cookie })).status).toBe(401);
    expect((await call(port, 'GET', '/session', { cookie })).json()).toEqual({ session: null });
  });
});

describe('dashboard: history', () => {
  it('charts requests through the balancer in GET /stats and lists operational events in GET /events', async () => {
    const { port } = await start();
    for (let i = 0; i < 9; i++) expect((await request(proxy?.port as number, { path: `/x${i}` })).status).toBe(200);
    backends[1]?.setStatus(503);
    await request(proxy?.port as number, { path: '/fail' });
    await request(proxy?.port as number, { path: '/fail' });
    await request(proxy?.port as number, { path: '/fail' });

    const stats = (await call(port, 'GET', '/stats', { bearer: true })).json<{
      totals: { rps: number; errorRate: number; p50: number | null };
      backends: { id: string; rps: number; health: string; breaker: string }[];
      series: { t: number[] };
    }>();
    expect(stats.totals.rps).toBeGreaterThan(0);
    expect(stats.totals.p50).not.toBeNull();
    expect(stats.backends.map((b) => b.id)).toEqual(['a', 'b', 'c']);
    expect(stats.backends[0]?.health).toBe('healthy');
    expect(stats.backends[0]?.breaker).toBe('closed');

    expect((await call(port, 'POST', '/backends/c/drain', { bearer: true })).status).toBe(202);
    const events = (await call(port, 'GET', '/events', { bearer: true })).json<{
      events: { seq: number; type: string; backend?: string }[];
      last: number;
    }>();
    expect(events.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['backend:draining', 'backend:drained', 'backend:removed']),
    );
    expect(events.events.every((e) => e.backend === undefined || e.backend === 'c' || e.backend === 'b')).toBe(true);
    const newer = (await call(port, 'GET', `/events?after=${events.last}`, { bearer: true })).json<{
      events: unknown[];
    }>();
    expect(newer.events).toEqual([]);
  });

  it('answers GET /rollout/status with null before the first rollout', async () => {
    const { port } = await start();
    const reply = await call(port, 'GET', '/rollout/status', { bearer: true });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ rollout: null });
  });
});

describe('dashboard: source', () => {
  it('offers exactly the library strategies in the strategy picker', async () => {
    const ui = await import('../dashboard/src/strategies.js');
    const lib = await import('../src/upstream/strategies/create-strategy.js');
    expect([...ui.STRATEGY_NAMES].sort()).toEqual([...lib.STRATEGY_NAMES].sort());
  });
});
