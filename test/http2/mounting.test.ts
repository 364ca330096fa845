import http2, { type ClientHttp2Session, type Http2SecureServer, type Http2Server } from 'node:http2';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../../src/index.js';
import { createRouter, type Router, type RouterEvents } from '../../src/router.js';
import { createMemoryBackend, type MemoryBackend } from '../../src/testing/index.js';
import { testCertificate } from '../certs.js';
import { forwarderOptions } from '../conformance/forwarders.js';
import { closeSession, connect, h2request, listenOn } from './client.js';

// The router's handler, and Koa apps with the balancer or the router mounted, on node:http2 servers.
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

type Listener = Parameters<typeof http2.createServer>[1];

function backend(id: string): MemoryBackend {
  const b = createMemoryBackend({ id });
  cleanup.push(() => b.close());
  return b;
}

/** Serves `handler` on cleartext HTTP/2 (`h2c`) or TLS (`h2`), with a session to it. */
async function serve(kind: 'h2c' | 'h2', handler: Listener): Promise<ClientHttp2Session> {
  let server: Http2Server | Http2SecureServer;
  let session: ClientHttp2Session;
  if (kind === 'h2c') {
    server = await listenOn(http2.createServer({}, handler));
    session = connect(server);
  } else {
    const { key, cert } = testCertificate();
    server = await listenOn(http2.createSecureServer({ key, cert }, handler));
    session = connect(server, cert);
  }
  cleanup.push(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => closeSession(session),
  );
  return session;
}

function twoPools(): { router: Router; api: MemoryBackend; web: MemoryBackend } {
  const api = backend('api1');
  const web = backend('web1');
  const router = createRouter({
    pools: {
      api: { ...forwarderOptions(), backends: [api.config] },
      web: { ...forwarderOptions(), backends: [web.config] },
    },
    routes: [
      { name: 'api-host', host: 'api.example.com', pool: 'api' },
      { name: 'static', prefix: '/static', rewrite: { stripPrefix: true }, pool: 'web' },
    ],
  });
  cleanup.push(() => router.close());
  return { router, api, web };
}

function balancer(id: string): LoadBalancer {
  const lb = createLoadBalancer({ ...forwarderOptions(), backends: [backend(id).config] });
  cleanup.push(() => lb.close());
  return lb;
}

describe.each(['h2c', 'h2'] as const)('mounted on an HTTP/2 server (%s)', (kind) => {
  it("routes by :authority and path with the router's handler, and answers 404 itself", async () => {
    const { router, api, web } = twoPools();
    const events: RouterEvents['request'][] = [];
    router.on('request', (e) => events.push(e));
    const session = await serve(kind, router.handler);
    const byHost = await h2request(session, { path: '/x', headers: { ':authority': 'API.example.com' } });
    expect(byHost.status).toBe(200);
    expect(byHost.json()).toMatchObject({ backend: 'api1', url: '/x' });
    const byPrefix = await h2request(session, { path: '/static/app.js?v=3' });
    expect(byPrefix.json()).toMatchObject({ backend: 'web1', url: '/app.js?v=3' });
    // Routed by :authority; a Host field that differs is the pool's to refuse, as without the router.
    const mismatch = await h2request(session, {
      path: '/x',
      headers: { ':authority': 'api.example.com', host: 'web.example.com' },
    });
    expect(mismatch.status).toBe(400);
    const none = await h2request(session, { path: '/elsewhere' });
    expect(none.status).toBe(404);
    expect(none.json<{ error: { code: string } }>().error.code).toBe('ERR_NO_ROUTE');
    expect(api.requests.map((r) => r.url)).toEqual(['/x']);
    expect(web.requests.map((r) => r.url)).toEqual(['/app.js?v=3']);
    expect(events.map((e) => [e.route, e.pool, e.status, e.host, e.httpVersion])).toEqual([
      ['api-host', 'api', 200, 'api.example.com', '2.0'],
      ['static', 'web', 200, kind === 'h2c' ? '127.0.0.1' : 'localhost', '2.0'],
      ['api-host', 'api', 400, 'api.example.com', '2.0'],
      [undefined, undefined, 404, kind === 'h2c' ? '127.0.0.1' : 'localhost', '2.0'],
    ]);
  });

  it('serves a Koa app with the router mounted', async () => {
    const { router } = twoPools();
    const app = new Koa();
    app.use(router.koa());
    const session = await serve(kind, app.callback());
    const reply = await h2request(session, { path: '/y', headers: { ':authority': 'api.example.com' } });
    expect(reply.json()).toMatchObject({ backend: 'api1', url: '/y' });
    expect((await h2request(session, { path: '/static/s.css' })).json()).toMatchObject({
      backend: 'web1',
      url: '/s.css',
    });
  });

  it('serves a Koa app with the balancer mounted, request bodies included', async () => {
    const lb = balancer('k1');
    const app = new Koa();
    app.use(lb.koa());
    const session = await serve(kind, app.callback());
    const reply = await h2request(session, { method: 'POST', path: '/koa', body: 'payload' });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'k1', method: 'POST', url: '/koa' });
  });
});
