import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createLoadBalancer } from '../src/balancer.js';
import { ConfigError } from '../src/core/errors.js';
import { createRouter, type Router, type RouterEvents } from '../src/router.js';
import { createLoopbackBackend, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { type Listening, listen, rawExchange, request } from './helpers.js';

const TOKEN = 'router-admin-token-0123456789abcdef';
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function backend(id: string): MemoryBackend {
  const b = createMemoryBackend({ id });
  cleanup.push(() => b.close());
  return b;
}

async function serve(router: Router): Promise<Listening> {
  const server = http.createServer(router.handler);
  server.on('upgrade', router.upgrade);
  const l = await listen(server);
  cleanup.push(async () => {
    await router.close();
    await l.close();
  });
  return l;
}

function twoPools() {
  const api = backend('api1');
  const web = backend('web1');
  const router = createRouter({
    pools: { api: { backends: [api.config] }, web: { backends: [web.config] } },
    routes: [
      { name: 'api-host', host: 'api.example.com', pool: 'api' },
      { name: 'static', prefix: '/static', rewrite: { stripPrefix: true }, pool: 'web' },
      { name: 'v1', prefix: '/v1', rewrite: { replacePrefix: '/internal/v1' }, pool: 'api' },
    ],
  });
  return { api, web, router };
}

describe('createRouter', () => {
  it('sends requests to pools by host and path and rewrites the path', async () => {
    const { api, web, router } = twoPools();
    const { port } = await serve(router);
    expect((await request(port, { path: '/x', headers: { host: 'API.example.com:8080' } })).json()).toMatchObject({
      backend: 'api1',
      url: '/x',
    });
    expect((await request(port, { path: '/static/app.js?v=3' })).json()).toMatchObject({
      backend: 'web1',
      url: '/app.js?v=3',
    });
    expect((await request(port, { path: '/v1/users' })).json()).toMatchObject({
      backend: 'api1',
      url: '/internal/v1/users',
    });
    expect(api.requests).toHaveLength(2);
    expect(web.requests).toHaveLength(1);
  });

  it('matches the normalised path but forwards the raw one', async () => {
    const { web, router } = twoPools();
    const { port } = await serve(router);
    const raw = await rawExchange(port, 'GET /x/..//static/a.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(web.requests.map((r) => r.url)).toEqual(['/a.css']);
    const plain = await rawExchange(port, 'GET /%73tatic/b.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(plain).toMatch(/^HTTP\/1\.1 200/);
    expect(web.requests.map((r) => r.url)).toEqual(['/a.css', '/b.css']);
  });

  it('answers 404 ERR_NO_ROUTE with a JSON body when nothing matches', async () => {
    const { router } = twoPools();
    const { port } = await serve(router);
    const reply = await request(port, { path: '/nothing' });
    expect(reply.status).toBe(404);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_NO_ROUTE' } });
    expect(router.stats().unrouted).toBe(1);
    const upgrade = await rawExchange(
      port,
      'GET /nothing HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 404[\s\S]*ERR_NO_ROUTE/);
  });

  it('answers 400 for a target that is not a path or a Host that is not a host', async () => {
    const { router, api, web } = twoPools();
    const { port } = await serve(router);
    const raw = await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400[\s\S]*ERR_BAD_REQUEST/);
    const host = await rawExchange(
      port,
      'GET /static/x HTTP/1.1\r\nHost: api.example.com@evil\r\nConnection: close\r\n\r\n',
    );
    expect(host).toMatch(/^HTTP\/1\.1 400[\s\S]*ERR_BAD_REQUEST/);
    expect(api.requests.length + web.requests.length).toBe(0);
  });

  it('routes an absolute-form target by its authority, not the Host header', async () => {
    const { api, router } = twoPools();
    const { port } = await serve(router);
    const raw = await rawExchange(
      port,
      'GET http://api.example.com/v HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(api.requests).toHaveLength(1);
  });

  it('emits request events with the route, pool, target and byte counts', async () => {
    const { router } = twoPools();
    const seen: RouterEvents['request'][] = [];
    router.on('request', (e) => seen.push(e));
    const added: string[] = [];
    router.on('backend:added', (e) => added.push(`${e.pool}:${e.backend.id}`));
    const { port } = await serve(router);
    await request(port, { path: '/static/a?token=secret', headers: { 'user-agent': 'ua/1' } });
    await request(port, { path: '/none' });
    router.pool('web')?.addBackend({ url: 'http://10.9.9.9:1' });
    expect(seen[0]).toMatchObject({
      pool: 'web',
      route: 'static',
      backend: 'web1',
      status: 200,
      target: '/static/a?token=secret',
      path: '/a',
      userAgent: 'ua/1',
      clientAddress: '127.0.0.1',
    });
    expect(seen[0]?.bytesIn).toBeGreaterThan(30);
    expect(seen[0]?.bytesOut).toBeGreaterThan(60);
    expect(seen[1]).toMatchObject({ pool: undefined, route: undefined, status: 404, error: 'ERR_NO_ROUTE' });
    expect(added).toEqual(['web:10.9.9.9:1']);
  });

  it('changes routes and pools at run time', async () => {
    const { router } = twoPools();
    const { port } = await serve(router);
    const extra = backend('extra1');
    router.addPool('extra', { backends: [extra.config] });
    expect(() => router.setRoutes([{ prefix: '/', pool: 'missing' }])).toThrow(/routes\[0\]\.pool/);
    router.setRoutes([{ prefix: '/', pool: 'extra' }]);
    expect((await request(port, { path: '/static/x' })).json()).toMatchObject({ backend: 'extra1', url: '/static/x' });
    await expect(router.removePool('extra')).rejects.toThrow(ConfigError);
    router.setRoutes([{ pool: 'web' }]);
    await router.removePool('extra');
    expect(router.poolNames()).toEqual(['api', 'web']);
    const other = backend('web2');
    await router.replacePool('web', { backends: [other.config] });
    expect((await request(port, { path: '/y' })).json()).toMatchObject({ backend: 'web2' });
  });

  it('names the pool in a bad pool option and closes the pools it built', () => {
    expect(() =>
      createRouter({ pools: { a: { backends: [] }, b: { backends: [{ url: 'ftp://x' }] } }, routes: [] }),
    ).toThrow(/pools\.b\.backends\[0\]\.url/);
    expect(() => createRouter({ pools: { 'bad name': {} } })).toThrow(ConfigError);
  });

  it('accepts a balancer built by the caller and serves merged metrics with a pool label', async () => {
    const a = backend('m1');
    const lb = createLoadBalancer({ backends: [a.config] });
    const router = createRouter({ pools: { mine: lb, other: { backends: [] } }, routes: [{ pool: 'mine' }] });
    expect(router.pool('mine')).toBe(lb);
    const { port } = await serve(router);
    await request(port, { path: '/' });
    const metrics = await listen((req, res) => void router.metricsHandler(req, res));
    cleanup.push(() => metrics.close());
    const text = (await request(metrics.port, { path: '/metrics' })).text;
    const help = text.split('\n').filter((l) => l.startsWith('# HELP switchyard_requests_total'));
    expect(help.length).toBeLessThanOrEqual(1);
    expect(text).toMatch(/\{pool="mine"[,}]/);
    expect(text).toMatch(/\{pool="other"[,}]/);
    const json = (await request(metrics.port, { path: '/metrics?format=json' })).json<{
      pools: Record<string, unknown>;
    }>();
    expect(Object.keys(json.pools)).toEqual(['mine', 'other']);
  });

  it('works as Express-style middleware, falling through when asked', async () => {
    const { router } = twoPools();
    cleanup.push(() => router.close());
    const mw = router.express({ fallthrough: true });
    const server = await listen((req, res) => {
      mw(req, res, () => {
        res.writeHead(418).end('app');
      });
    });
    cleanup.push(() => server.close());
    expect((await request(server.port, { path: '/none' })).status).toBe(418);
    expect((await request(server.port, { path: '/static/x' })).json()).toMatchObject({ backend: 'web1' });
  });
});

describe('router surfaces', () => {
  it('serves as Koa middleware', async () => {
    const { router } = twoPools();
    cleanup.push(() => router.close());
    const app = new Koa();
    app.use(router.koa());
    const front = await listen(http.createServer(app.callback()));
    cleanup.push(() => front.close());
    expect((await request(front.port, { path: '/static/k?x=1' })).json()).toMatchObject({
      backend: 'web1',
      url: '/k?x=1',
    });
    expect((await request(front.port, { path: '/none' })).status).toBe(404);
  });

  it('routes a WebSocket upgrade to its pool, rewriting the path', async () => {
    const backend = await createLoopbackBackend({ id: 'ws' });
    const wss = new WebSocketServer({ server: backend.server });
    wss.on('connection', (socket, req) => socket.send(`hello ${req.url}`));
    const router = createRouter({
      pools: { ws: { backends: [backend.config] }, other: { backends: [] } },
      routes: [{ prefix: '/live', rewrite: { replacePrefix: '/socket' }, pool: 'ws' }, { pool: 'other' }],
    });
    cleanup.push(
      () => backend.close(),
      async () => {
        wss.close();
      },
    );
    const front = await serve(router);
    const client = new WebSocket(`ws://127.0.0.1:${(front.server.address() as AddressInfo).port}/live/chat`);
    const message = await new Promise<string>((resolve, reject) => {
      client.on('message', (data) => resolve(data.toString()));
      client.on('error', reject);
    });
    client.close();
    expect(message).toBe('hello /socket/chat');
  });
});

describe('router admin API', () => {
  async function admin() {
    const { router, api } = twoPools();
    await serve(router);
    const server = await listen((req, res) => void router.admin({ token: TOKEN })(req, res));
    cleanup.push(() => server.close());
    const call = (method: string, path: string, body?: unknown) =>
      request(server.port, {
        method,
        path,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    return { router, api, call, port: server.port };
  }

  it('refuses a request without the token', async () => {
    const { port } = await admin();
    expect((await request(port, { path: '/routes' })).status).toBe(401);
  });

  it('lists and replaces routes, refusing a bad list with its path', async () => {
    const { call, router } = await admin();
    const listed = (await call('GET', '/routes')).json<{ routes: { name: string }[] }>();
    expect(listed.routes.map((r) => r.name)).toEqual(['api-host', 'static', 'v1']);
    const bad = await call('PUT', '/routes', { routes: [{ pool: 'nope' }] });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { path: 'routes[0].pool' } });
    expect((await call('PUT', '/routes', { routes: [{ name: 'all', pool: 'api' }] })).status).toBe(200);
    expect(router.routes().map((r) => r.name)).toEqual(['all']);
  });

  it('lists, adds and removes pools and reaches a pool admin API', async () => {
    const { call, router } = await admin();
    const pools = (await call('GET', '/pools')).json<{ pools: { name: string; routes: string[] }[] }>();
    expect(pools.pools.map((p) => [p.name, p.routes])).toEqual([
      ['api', ['api-host', 'v1']],
      ['web', ['static']],
    ]);
    expect((await call('POST', '/pools', { name: 'new', options: { backends: [] } })).status).toBe(201);
    expect((await call('POST', '/pools', { name: 'new', options: {} })).status).toBe(409);
    const added = await call('POST', '/pools/new/backends', { url: 'http://10.0.0.5:81' });
    expect(added.status).toBe(201);
    expect(
      router
        .pool('new')
        ?.backends()
        .map((b) => b.id),
    ).toEqual(['10.0.0.5:81']);
    expect((await call('GET', '/pools/new/backends')).json()).toMatchObject({ backends: [{ id: '10.0.0.5:81' }] });
    expect((await call('DELETE', '/pools/web')).status).toBe(400);
    expect((await call('DELETE', '/pools/new')).status).toBe(200);
    expect((await call('GET', '/pools/new')).status).toBe(404);
    expect((await call('GET', '/health')).status).toBe(200);
  });
});
