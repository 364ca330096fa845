import http2, { type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { testCertificate } from '../certs.js';
import { listen, request, until } from '../helpers.js';
import { closeSession, connect, h2request, listenOn } from './client.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface H2Seen {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  trailers: Record<string, string | string[] | undefined>;
  alpn: string | false | null | undefined;
}

type Handler = (req: Http2ServerRequest, res: Http2ServerResponse, seen: H2Seen) => boolean;

/** An HTTP/2 backend (h2c, or h2 over TLS) recording what it saw; answers with the body it read. */
async function h2Backend(options: { tls?: boolean; settings?: http2.Settings; handler?: Handler } = {}) {
  const seen: H2Seen[] = [];
  const onRequest = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const entry: H2Seen = {
      headers: { ...req.headers },
      body: '',
      trailers: {},
      alpn: (req.socket as unknown as tls.TLSSocket).alpnProtocol,
    };
    seen.push(entry);
    if (options.handler?.(req, res, entry)) return;
    req.on('data', (chunk: Buffer) => {
      entry.body += chunk.toString();
    });
    req.on('end', () => {
      entry.trailers = { ...req.trailers };
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': 'h2' });
      res.addTrailers({ 'x-upstream-trailer': 'done' });
      res.end(`echo:${entry.body}`);
    });
  };
  const { key, cert } = testCertificate();
  const server: Http2Server = options.tls
    ? (http2.createSecureServer({ key, cert, settings: options.settings }, onRequest) as unknown as Http2Server)
    : http2.createServer({ settings: options.settings }, onRequest);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await listenOn(server);
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const session of sessions) session.destroy();
      server.close(() => resolve());
    });
  cleanup.push(close);
  return { server, port, seen, sessions, close };
}

function balancer(options: LoadBalancerOptions): LoadBalancer {
  const lb = createLoadBalancer(options);
  cleanup.push(() => lb.close());
  return lb;
}

/** A TLS connector trusting the test certificate (backends bring their own transport). */
const trusting = (options: object) =>
  tls.connect({ ...(options as tls.ConnectionOptions), ca: testCertificate().cert });

describe('HTTP/2 upstreams', () => {
  it('proxies HTTP/1.1 clients to an h2c backend: request line, authority, body and trailers both ways', async () => {
    const backend = await h2Backend();
    const lb = balancer({ backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }] });
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    const reply = await request(front.port, {
      method: 'POST',
      path: '/items?x=1',
      headers: { 'x-custom': 'yes', te: 'trailers', 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('echo:hello');
    expect(reply.headers['x-backend']).toBe('h2');
    expect(reply.headers.via).toBe('2 switchyard');
    const seen = backend.seen[0] as H2Seen;
    expect(seen.headers[':method']).toBe('POST');
    expect(seen.headers[':path']).toBe('/items?x=1');
    expect(seen.headers[':scheme']).toBe('http');
    // preserveHost (the default): the client's Host becomes :authority.
    expect(seen.headers[':authority']).toBe(`127.0.0.1:${front.port}`);
    expect(seen.headers['x-custom']).toBe('yes');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers.connection).toBeUndefined();
    expect(seen.headers.host).toBeUndefined();
  });

  it('multiplexes many requests from an HTTP/2 client onto one backend session, trailers included', async () => {
    const backend = await h2Backend();
    const lb = balancer({ backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }] });
    const server = await listenOn(http2.createServer({}, lb.handler));
    const session = connect(server);
    cleanup.push(
      () => new Promise<void>((resolve) => server.close(() => resolve())),
      () => closeSession(session),
    );
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h2request(session, { method: 'POST', path: `/m${i}`, body: `b${i}`, trailers: { 'x-req': `t${i}` } }),
      ),
    );
    expect(replies.map((r) => r.text)).toEqual(Array.from({ length: 20 }, (_, i) => `echo:b${i}`));
    expect(replies.every((r) => r.trailers['x-upstream-trailer'] === 'done')).toBe(true);
    expect(backend.seen.map((s) => s.trailers['x-req']).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `t${i}`).sort(),
    );
    expect(backend.sessions.size).toBe(1);
  });

  it('speaks h2 over TLS (ALPN h2) and falls back to HTTP/1.1 under auto when the backend offers only that', async () => {
    const h2 = await h2Backend({ tls: true });
    const { key, cert } = testCertificate();
    const h1 = https.createServer({ key, cert }, (req, res) => {
      res.end(`h1:${req.httpVersion}:${(req.socket as tls.TLSSocket).alpnProtocol || 'none'}`);
    });
    await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => h1.close(() => resolve())));
    const h1Port = (h1.address() as AddressInfo).port;
    const lb = balancer({
      backends: [
        { id: 'tls-h2', url: `https://localhost:${h2.port}`, protocol: 'h2', createConnection: trusting },
        { id: 'auto-h2', url: `https://localhost:${h2.port}`, protocol: 'auto', createConnection: trusting },
        { id: 'auto-h1', url: `https://localhost:${h1Port}`, protocol: 'auto', createConnection: trusting },
      ],
      strategy: 'round-robin',
      retry: false,
    });
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    const texts: string[] = [];
    for (let i = 0; i < 6; i++) texts.push((await request(front.port, { path: `/t${i}` })).text);
    expect(texts.filter((t) => t === 'echo:')).toHaveLength(4);
    expect(texts.filter((t) => t.startsWith('h1:1.1'))).toHaveLength(2);
    expect(h2.seen.every((s) => s.alpn === 'h2' && s.headers[':scheme'] === 'https')).toBe(true);
  });

  it("counts the backend's max concurrent streams as its connection limit", async () => {
    const hold: Array<() => void> = [];
    const backend = await h2Backend({
      settings: { maxConcurrentStreams: 2 },
      handler: (req, res) => {
        if (req.url !== '/slow') return false;
        hold.push(() => res.end('slow'));
        return true;
      },
    });
    const lb = balancer({
      backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }],
      retry: false,
      adaptiveConcurrency: false,
    });
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    // The first exchange learns the peer's SETTINGS.
    expect((await request(front.port, { path: '/warm' })).status).toBe(200);
    const queued: string[] = [];
    lb.on('queue', ({ action }) => queued.push(action));
    const slow = [request(front.port, { path: '/slow' }), request(front.port, { path: '/slow' })];
    await until(() => hold.length === 2);
    // A third request waits in the queue: the backend's two streams are taken.
    const third = request(front.port, { path: '/third' });
    await until(() => queued.includes('enqueued'));
    expect(backend.seen.map((s) => s.headers[':path'])).toEqual(['/warm', '/slow', '/slow']);
    (hold.shift() as () => void)();
    expect((await third).status).toBe(200);
    for (const release of hold) release();
    expect((await Promise.all(slow)).map((r) => r.text)).toEqual(['slow', 'slow']);
  });

  it('reconnects after the backend closes its session', async () => {
    const backend = await h2Backend();
    const lb = balancer({ backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }] });
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    expect((await request(front.port, { path: '/one' })).status).toBe(200);
    for (const session of backend.sessions) session.close();
    await until(() => backend.sessions.size === 0);
    expect((await request(front.port, { path: '/two' })).status).toBe(200);
    expect(backend.seen.map((s) => s.headers[':path'])).toEqual(['/one', '/two']);
  });

  it('answers 502 ERR_UPSTREAM_CONNECT when the h2c backend is down, and retries on another', async () => {
    const backend = await h2Backend();
    const port = backend.port;
    await backend.close();
    const lb = balancer({ backends: [{ url: `http://127.0.0.1:${port}`, protocol: 'h2c' }], retry: false });
    const errors: string[] = [];
    lb.on('upstream:error', (e) => errors.push(e.code));
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    const reply = await request(front.port, { path: '/' });
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
    expect(errors).toEqual(['ERR_UPSTREAM_CONNECT']);
    const live = await h2Backend();
    const retrying = balancer({
      backends: [
        { id: 'down', url: `http://127.0.0.1:${port}`, protocol: 'h2c' },
        { id: 'up', url: `http://127.0.0.1:${live.port}`, protocol: 'h2c' },
      ],
      strategy: 'round-robin',
    });
    const front2 = await listen(retrying.handler);
    cleanup.push(() => front2.close());
    const statuses = await Promise.all([1, 2, 3, 4].map(() => request(front2.port, { path: '/r' })));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it('cancels the upstream stream when the client goes away, leaving nothing in flight', async () => {
    let closed = 0;
    const backend = await h2Backend({
      handler: (req, _res) => {
        if (req.url !== '/hang') return false;
        req.stream.on('close', () => closed++);
        return true;
      },
    });
    const lb = balancer({ backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }], retry: false });
    const events: Array<{ status: number; error?: string }> = [];
    lb.on('request', (e) => events.push(e));
    const server = await listenOn(http2.createServer({}, lb.handler));
    const session = connect(server);
    cleanup.push(
      () => new Promise<void>((resolve) => server.close(() => resolve())),
      () => closeSession(session),
    );
    const stream = session.request({ ':path': '/hang' });
    stream.on('error', () => {});
    await until(() => backend.seen.length === 1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => closed === 1 && events.length === 1);
    expect(events[0]).toMatchObject({ status: 499, error: 'ERR_CLIENT_ABORTED' });
    expect(lb.backends()[0]?.active).toBe(0);
  });

  it('runs active health checks over the HTTP/2 session of an h2c-only backend', async () => {
    let healthy = true;
    const backend = await h2Backend({
      handler: (req, res) => {
        if (req.url !== '/health') return false;
        res.writeHead(healthy ? 200 : 503);
        res.end(healthy ? 'ok' : 'down');
        return true;
      },
    });
    const lb = balancer({
      backends: [{ url: `http://127.0.0.1:${backend.port}`, protocol: 'h2c' }],
      healthCheck: { path: '/health', interval: '50ms', timeout: '40ms', unhealthyThreshold: 1, healthyThreshold: 1 },
    });
    const checks: Array<{ ok: boolean; status?: number }> = [];
    lb.on('health:check', (e) => checks.push(e));
    await until(() => checks.some((c) => c.ok && c.status === 200), 1_000_000);
    healthy = false;
    await until(() => lb.backends()[0]?.status === 'unhealthy', 1_000_000);
    expect(checks.at(-1)).toMatchObject({ ok: false, status: 503 });
    expect(backend.seen.every((s) => s.headers[':path'] === '/health')).toBe(true);
  });

  it('refuses a protocol that does not fit the URL scheme, naming the path', () => {
    expect(() => createLoadBalancer({ backends: [{ url: 'http://127.0.0.1:1', protocol: 'h2' }] })).toThrow(
      ConfigError,
    );
    try {
      createLoadBalancer({ backends: [{ url: 'https://127.0.0.1:1', protocol: 'h2c' }] });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).path).toBe('backends[0].protocol');
    }
  });
});
