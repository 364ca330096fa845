import type http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import http2, { type ClientHttp2Session, type Http2SecureServer, type Http2Server } from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { testCertificate } from '../certs.js';
import { forwarderOptions } from '../conformance/forwarders.js';
import { type Listening, listen, until } from '../helpers.js';
import { closeSession, connect, h2request, listenOn } from './client.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Seen {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: IncomingHttpHeaders;
  body: string;
  trailers: Record<string, string | undefined>;
}

/** An HTTP/1.1 backend that records every request and answers with what it saw. */
async function echoBackend(
  respond?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<Listening & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const backend = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        trailers: { ...req.trailers },
      };
      seen.push(entry);
      if (respond?.(req, res)) return;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: entry.url, body: entry.body }));
    });
  });
  cleanup.push(() => backend.close());
  return Object.assign(backend, { seen });
}

function balancer(options: LoadBalancerOptions): LoadBalancer {
  const lb = createLoadBalancer({ ...forwarderOptions(), ...options });
  cleanup.push(() => lb.close());
  return lb;
}

async function h2c(lb: LoadBalancer): Promise<{ server: Http2Server; session: ClientHttp2Session }> {
  const server = await listenOn(http2.createServer({}, lb.handler));
  const session = connect(server);
  cleanup.push(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => closeSession(session),
  );
  return { server, session };
}

async function h2tls(
  lb: LoadBalancer,
  allowHTTP1: boolean,
): Promise<{ server: Http2SecureServer; session: ClientHttp2Session; ca: Buffer }> {
  const { key, cert } = testCertificate();
  const server = await listenOn(http2.createSecureServer({ key, cert, allowHTTP1 }, lb.handler));
  const session = connect(server, cert);
  cleanup.push(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => closeSession(session),
  );
  return { server, session, ca: cert };
}

describe('HTTP/2 downstream (lb.handler on node:http2)', () => {
  it('maps the pseudo-headers to the request line and Host, and sends no pseudo-header upstream', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }], retry: false });
    const { session, server } = await h2c(lb);
    const port = (server.address() as AddressInfo).port;
    const reply = await h2request(session, { path: '/items/7?x=1', headers: { 'x-custom': 'yes' } });
    expect(reply.status).toBe(200);
    const seen = backend.seen[0] as Seen;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/items/7?x=1');
    expect(seen.httpVersion).toBe('1.1');
    expect(seen.headers.host).toBe(`127.0.0.1:${port}`);
    expect(seen.headers['x-custom']).toBe('yes');
    expect(seen.rawHeaders.filter((_, i) => i % 2 === 0).some((name) => name.startsWith(':'))).toBe(false);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${port}`);
    expect(seen.headers.via).toBe('2 switchyard');
    // A bodiless HTTP/2 request (END_STREAM on HEADERS) carries no framing upstream.
    expect(seen.headers['transfer-encoding']).toBeUndefined();
    expect(seen.headers['content-length']).toBeUndefined();
    // The client gets no connection-specific header back.
    expect(reply.headers.connection).toBeUndefined();
    expect(reply.headers['keep-alive']).toBeUndefined();
  });

  it('forwards a request body exactly, with and without content-length', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2c(lb);
    const sized = await h2request(session, {
      method: 'POST',
      path: '/sized',
      headers: { 'content-length': '11' },
      body: 'hello world',
    });
    expect(sized.json()).toEqual({ url: '/sized', body: 'hello world' });
    expect(backend.seen[0]?.headers['content-length']).toBe('11');
    const streamed = await h2request(session, { method: 'PUT', path: '/streamed', body: ['a', 'bc', 'def'] });
    expect(streamed.json()).toEqual({ url: '/streamed', body: 'abcdef' });
    expect(backend.seen[1]?.headers['transfer-encoding']).toBe('chunked');
  });

  it('carries request trailers to the backend and response trailers to the client', async () => {
    const backend = await echoBackend((req, res) => {
      if (req.url !== '/trailers') return false;
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('part');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
      return true;
    });
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2c(lb);
    const reply = await h2request(session, {
      method: 'POST',
      path: '/trailers',
      body: 'payload',
      trailers: { 'x-request-sum': '42' },
    });
    expect(reply.text).toBe('part');
    expect(reply.trailers['x-checksum']).toBe('abc123');
    expect(backend.seen[0]?.body).toBe('payload');
    expect(backend.seen[0]?.trailers['x-request-sum']).toBe('42');
  });

  it('carries response trailers to the client of a bodiless request (the undici path)', async () => {
    const backend = await echoBackend((req, res) => {
      if (req.url !== '/get-trailers') return false;
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-other' });
      res.write('part');
      res.addTrailers({ 'x-checksum': 'abc123', 'x-other': '1' });
      res.end();
      return true;
    });
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2c(lb);
    const reply = await h2request(session, { method: 'GET', path: '/get-trailers' });
    expect(reply.text).toBe('part');
    expect(reply.trailers['x-checksum']).toBe('abc123');
    expect(reply.trailers['x-other']).toBe('1');
  });

  it("counts a gRPC failure status in an HTTP/1.1 backend's trailers for the breaker and the stats", async () => {
    // gRPC framing over chunked HTTP/1.1: one message, then grpc-status in the trailers.
    const backend = await echoBackend((req, res) => {
      res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status, grpc-message' });
      res.write(Buffer.from([0, 0, 0, 0, 1, 0x41]));
      res.addTrailers({ 'grpc-status': req.url === '/ok' ? '0' : '14', 'grpc-message': 'midway' });
      res.end();
      return true;
    });
    const lb = balancer({
      backends: [{ id: 'b', url: backend.url }],
      outlierDetection: false,
      circuitBreaker: { errorThresholdPercentage: 45, volumeThreshold: 2, resetTimeout: '1m' },
    });
    const opened: string[] = [];
    lb.on('breaker:open', (e) => opened.push(e.backend));
    const { session } = await h2c(lb);
    const call = (path: string) =>
      h2request(session, {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
        body: Buffer.from([0, 0, 0, 0, 0]),
      });
    for (let i = 0; i < 3; i++) expect((await call('/ok')).trailers['grpc-status']).toBe('0');
    await until(() => lb.backends()[0]?.active === 0);
    expect(lb.backends()[0]).toMatchObject({ status: 'healthy', failures: 0 });
    // The same through an HTTP/1.1 client (on the undici forwarder, a body from an HTTP/2 client goes through http-proxy-3).
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    const http1Trailers = await new Promise<NodeJS.Dict<string>>((resolve, reject) => {
      const req = httpRequest(
        { port: front.port, host: '127.0.0.1', method: 'POST', path: '/fail', agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.trailers));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setHeader('content-type', 'application/grpc');
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    expect(http1Trailers['grpc-status']).toBe('14');
    for (let i = 0; i < 2; i++) {
      const reply = await call('/fail');
      // The client gets the message and the backend's status, as sent.
      expect(reply.body).toEqual(Buffer.from([0, 0, 0, 0, 1, 0x41]));
      expect(reply.trailers['grpc-status']).toBe('14');
    }
    await until(() => opened.length === 1);
    expect(opened).toEqual(['b']);
    expect(lb.backends()[0]).toMatchObject({ status: 'open', failures: 3 });
  });

  it('serves h2 over TLS with X-Forwarded-Proto and Forwarded from the TLS state', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2tls(lb, false);
    const reply = await h2request(session, { path: '/secure' });
    expect(reply.status).toBe(200);
    const seen = backend.seen[0] as Seen;
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers.forwarded).toMatch(/proto=https/);
    expect(seen.headers.host).toMatch(/^localhost:\d+$/);
  });

  it('serves both HTTP/2 and HTTP/1.1 clients on an allowHTTP1 secure server', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session, server, ca } = await h2tls(lb, true);
    expect((await h2request(session, { path: '/over-h2' })).status).toBe(200);
    const port = (server.address() as AddressInfo).port;
    const h1 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: 'localhost', port, path: '/over-h1', ca, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(h1.status).toBe(200);
    expect(backend.seen.map((s) => [s.url, s.headers.via, s.headers['x-forwarded-proto']])).toEqual([
      ['/over-h2', '2 switchyard', 'https'],
      ['/over-h1', '1.1 switchyard', 'https'],
    ]);
  });

  it('answers an HTTP/2 client without the connection-specific headers an HTTP/1.1 backend sent', async () => {
    const backend = await echoBackend((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'keep-alive, upgrade, x-hop',
        'keep-alive': 'timeout=5',
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAAQAAP__',
        'x-hop': 'gone',
        'x-kept': 'yes',
      });
      res.end('body');
      return true;
    });
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2c(lb);
    const reply = await h2request(session, { path: '/hop' });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('body');
    for (const name of ['connection', 'keep-alive', 'upgrade', 'http2-settings', 'x-hop', 'transfer-encoding'])
      expect(reply.headers[name]).toBeUndefined();
    expect(reply.headers['x-kept']).toBe('yes');
  });

  it('refuses a Host that differs from :authority with 400', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }] });
    const { session } = await h2c(lb);
    const reply = await h2request(session, {
      path: '/',
      headers: { ':authority': 'one.example', host: 'other.example' },
    });
    expect(reply.status).toBe(400);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_BAD_REQUEST' } });
    expect(backend.seen).toHaveLength(0);
  });

  it('handles a stream the client resets mid-body like an aborted HTTP/1.1 request', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let backendClosed = false;
    const backend = await listen((req, res) => {
      if (req.url === '/after') {
        res.end('after');
        return;
      }
      arrived();
      req.on('close', () => {
        backendClosed = true;
      });
      req.resume();
    });
    cleanup.push(() => backend.close());
    const lb = balancer({ backends: [{ url: backend.url }], retry: false });
    const events: Array<{ status: number; error?: string }> = [];
    lb.on('request', (event) => events.push(event));
    const { session } = await h2c(lb);
    const stream = session.request({ ':method': 'POST', ':path': '/upload' });
    stream.on('error', () => {});
    stream.write('first part');
    await arrival;
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => events.length === 1 && backendClosed);
    expect(events[0]).toMatchObject({ status: 499, error: 'ERR_CLIENT_ABORTED' });
    await until(() => lb.backends()[0]?.active === 0);
    // The session is still usable.
    expect((await h2request(session, { path: '/after' })).status).toBe(200);
  });

  it('runs under Koa on an http2 server', async () => {
    const backend = await echoBackend();
    const lb = balancer({ backends: [{ url: backend.url }] });
    const app = new Koa();
    app.use(lb.koa());
    const server = await listenOn(http2.createServer({}, app.callback()));
    const session = connect(server);
    cleanup.push(
      () => new Promise<void>((resolve) => server.close(() => resolve())),
      () => closeSession(session),
    );
    const reply = await h2request(session, { method: 'POST', path: '/koa', body: 'k' });
    expect(reply.json()).toEqual({ url: '/koa', body: 'k' });
  });
});
