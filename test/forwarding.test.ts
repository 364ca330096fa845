import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../src/index.js';
import { createLoopbackBackend, createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { forwarderOptions } from './conformance/forwarders.js';
import { type Fixture, mount, serve, setup } from './fixture.js';
import { rawExchange, request } from './helpers.js';

let fx: Fixture | undefined;
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  for (const fn of cleanup.splice(0)) await fn();
});

function only(backend: TestBackend | undefined) {
  const requests = backend?.requests ?? [];
  expect(requests).toHaveLength(1);
  return requests[0] as NonNullable<(typeof requests)[0]>;
}

describe('the request a backend reads', () => {
  it('has the method, raw path and query exactly as sent', async () => {
    fx = await setup(['a']);
    const path = '//double//slash/./dot/../x%2Fy?q=1&q=2&empty=&=v;semi#frag';
    const raw = await rawExchange(
      fx.front.port,
      `PATCH ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    const seen = only(fx.backends[0]);
    expect(seen.method).toBe('PATCH');
    expect(seen.url).toBe(path);
  });

  it('has a Content-Length body byte for byte', async () => {
    fx = await setup(['a']);
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    await request(fx.front.port, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    const seen = only(fx.backends[0]);
    expect(seen.headers['content-length']).toBe('70000');
    expect(seen.body.equals(body)).toBe(true);
  });

  it('has a chunked body with its chunked framing', async () => {
    fx = await setup(['a']);
    await request(fx.front.port, { method: 'POST', body: ['alpha-', 'beta-', 'gamma'], chunked: true });
    const seen = only(fx.backends[0]);
    expect(seen.headers['transfer-encoding']).toBe('chunked');
    expect(seen.headers['content-length']).toBeUndefined();
    expect(seen.body.toString()).toBe('alpha-beta-gamma');
  });

  it('forwards the trailer fields of a chunked body', async () => {
    fx = await setup(['a']);
    const raw = await rawExchange(
      fx.front.port,
      'POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 5d41\r\nX-Other: 1\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    const seen = only(fx.backends[0]);
    expect(seen.body.toString()).toBe('hello');
    expect(seen.trailers).toEqual({ 'x-checksum': '5d41', 'x-other': '1' });
  });

  it('forwards trailers with a buffered body replayed to a second backend', async () => {
    fx = await setup(['a', 'b'], { outlierDetection: false, circuitBreaker: false });
    await fx.backends[0]?.fail('reset');
    const raw = await rawExchange(
      fx.front.port,
      'PUT /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    const seen = only(fx.backends[1]);
    expect(seen.body.toString()).toBe('abc');
    expect(seen.trailers).toEqual({ 'x-sum': '9' });
  });

  it('keeps the chunked body of a DELETE (http-proxy-3 would rewrite its framing)', async () => {
    fx = await setup(['a']);
    await request(fx.front.port, {
      method: 'DELETE',
      body: ['{"ids":', '[1,2]}'],
      chunked: true,
      headers: { 'transfer-encoding': 'chunked' },
    });
    const seen = only(fx.backends[0]);
    expect(seen.headers['transfer-encoding']).toBe('chunked');
    expect(seen.body.toString()).toBe('{"ids":[1,2]}');
  });

  // RFC 9110 §5.3: only the order of lines with the same name is significant,
  // so repeated lines are kept in order and grouped at their first position.
  it('keeps repeated headers as separate lines in order, minus hop-by-hop ones', async () => {
    fx = await setup(['a']);
    await rawExchange(
      fx.front.port,
      'GET / HTTP/1.1\r\nHost: shop\r\nX-B: 1\r\nX-A: 2\r\nX-B: 3\r\nKeep-Alive: timeout=5\r\nConnection: close, X-Drop\r\nX-Drop: gone\r\nTE: trailers\r\nProxy-Authorization: Basic x\r\n\r\n',
    );
    const seen = only(fx.backends[0]);
    // Connection is set by each hop: where a client library puts it among the fields is not part of the contract.
    const lines: string[] = [];
    for (let i = 0; i < seen.rawHeaders.length; i += 2) {
      if (seen.rawHeaders[i] !== 'connection')
        lines.push(seen.rawHeaders[i] as string, seen.rawHeaders[i + 1] as string);
    }
    expect(lines.slice(0, 8)).toEqual(['host', 'shop', 'x-b', '1', 'x-b', '3', 'x-a', '2']);
    for (const name of ['keep-alive', 'x-drop', 'te', 'proxy-authorization'])
      expect(seen.headers[name]).toBeUndefined();
    expect(seen.headers.connection).toBe('keep-alive');
  });

  it('gets X-Forwarded-* from the real peer, not from an untrusted client', async () => {
    fx = await setup(['a']);
    await request(fx.front.port, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil',
        'x-forwarded-proto': 'https',
        forwarded: 'for=6.6.6.6',
      },
    });
    const seen = only(fx.backends[0]);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${fx.front.port}`);
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;proto=http;host="127.0.0.1:${fx.front.port}"`);
    expect(seen.headers.via).toBe('1.1 switchyard');
  });

  it('extends X-Forwarded-For when the peer is trusted', async () => {
    fx = await setup(['a'], { trustProxy: ['loopback'] });
    await request(fx.front.port, { headers: { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' } });
    const seen = only(fx.backends[0]);
    expect(seen.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
  });

  it('sends the backend host when preserveHost is false, and prefixes the backend URL path', async () => {
    const backend = createMemoryBackend({ id: 'p' });
    fx = await serve([backend], { preserveHost: false }, (b) => ({ ...b.config, url: `${b.url}/base` }));
    const { front } = fx;
    await request(front.port, { path: '/x?y=1' });
    const seen = only(backend);
    expect(seen.url).toBe('/base/x?y=1');
    expect(seen.headers.host).toBe(new URL(backend.url).host);
  });

  it('turns an absolute-form target into origin-form with its authority as Host', async () => {
    fx = await setup(['a']);
    await rawExchange(
      fx.front.port,
      'GET http://api.example/v1?x=1 HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
    );
    const seen = only(fx.backends[0]);
    expect(seen.url).toBe('/v1?x=1');
    expect(seen.headers.host).toBe('api.example');
  });
});

describe('the response a client reads', () => {
  it('keeps several Set-Cookie headers apart and drops hop-by-hop ones', async () => {
    const backend = createMemoryBackend({
      id: 'c',
      handler: (_req, res) => {
        res.setHeader('set-cookie', ['a=1; Path=/; HttpOnly', 'b=2; Path=/']);
        res.setHeader('connection', 'keep-alive, x-private');
        res.setHeader('x-private', 'secret');
        res.setHeader('keep-alive', 'timeout=5');
        res.setHeader('proxy-authenticate', 'Basic');
        res.end('ok');
      },
    });
    fx = await serve([backend]);
    const { front } = fx;
    const reply = await request(front.port);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/; HttpOnly', 'b=2; Path=/']);
    expect(reply.headers['x-private']).toBeUndefined();
    expect(reply.headers['proxy-authenticate']).toBeUndefined();
    expect(reply.headers.via).toBe('1.1 switchyard');
    expect(reply.text).toBe('ok');
  });

  it('forwards the trailer fields of a chunked response', async () => {
    const backend = createMemoryBackend({
      id: 't',
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-digest' });
        res.write('part one, ');
        res.addTrailers({ 'x-digest': 'sha-256=abc' });
        res.end('part two');
      },
    });
    fx = await serve([backend]);
    const { front } = fx;
    const raw = await rawExchange(front.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/\r\ntrailer: x-digest\r\n/i);
    expect(raw).toMatch(/part one, /);
    expect(raw).toMatch(/\r\n0\r\nx-digest: sha-256=abc\r\n\r\n$/i);
  });

  it('streams a large response without buffering it whole', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const backend = createMemoryBackend({
      id: 's',
      handler: async (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < 64; i++) {
          if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
        }
        res.end();
      },
    });
    fx = await serve([backend]);
    const { front } = fx;
    const reply = await request(front.port);
    expect(reply.body.length).toBe(64 * 64 * 1024);
    expect(reply.headers['transfer-encoding']).toBe('chunked');
  });
});

describe('real sockets', () => {
  it('forwards over TCP to a loopback backend, keep-alive included', async () => {
    const loop = await createLoopbackBackend({ id: 'tcp' });
    fx = await serve([loop]);
    const { front } = fx;
    for (let i = 0; i < 3; i++) expect((await request(front.port)).json()).toMatchObject({ backend: 'tcp' });
    expect(loop.connections).toBe(1);
  });

  it('answers 502 ERR_UPSTREAM_CONNECT for a port nobody listens on', async () => {
    const lb = createLoadBalancer({ ...forwarderOptions(), backends: [{ url: 'http://127.0.0.1:1' }], retry: false });
    const { front, close } = await mount(lb, []);
    cleanup.push(close);
    const reply = await request(front.port);
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
  });
});
