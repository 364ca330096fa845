import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { header, headerNames, OK } from './raw-backend.js';
import { type Rig, responseHeader, rig } from './rig.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

describe.each(FORWARDERS)('framing ($name)', ({ options }) => {
  it.each(['HTTP/2.0', 'HTTP/3.0'])(
    'answers a request line claiming %s on an HTTP/1 connection with 400, sending nothing',
    async (version) => {
      r = await rig(options);
      const res = await r.send(`GET /v ${version}\r\nHost: a.example\r\n\r\n`, 500);
      // Node's parser may refuse the version itself (400 too); either way the backend reads nothing.
      expect(res.status).toBe(400);
      expect(r.backend.requests).toEqual([]);
    },
  );

  it.each(METHODS)('%s: the backend reads a Content-Length body exactly', async (method) => {
    r = await rig(options);
    const res = await r.send(
      `${method} /p HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    expect(res.status).toBe(200);
    const seen = r.backend.requests[0];
    expect(seen?.method).toBe(method);
    expect(seen?.body).toBe('hello');
    expect(header(seen, 'content-length')).toBe('5');
    expect(header(seen, 'transfer-encoding')).toBeUndefined();
    expect(r.backend.malformed).toEqual([]);
  });

  it.each(METHODS)('%s: the backend reads a chunked body with its chunked framing', async (method) => {
    r = await rig(options);
    const res = await r.send(
      `${method} /p HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    const seen = r.backend.requests[0];
    expect(seen?.body).toBe('hello');
    expect(header(seen, 'transfer-encoding')).toBe('chunked');
    expect(header(seen, 'content-length')).toBeUndefined();
    expect(r.backend.malformed).toEqual([]);
  });

  it.each([
    ['Content-Length and Transfer-Encoding', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx'],
    ['a Content-Length list', 'Content-Length: 1, 2\r\n\r\nxx'],
    ['a non-numeric Content-Length', 'Content-Length: +5\r\n\r\nhello'],
    ['Transfer-Encoding not ending in chunked', 'Transfer-Encoding: gzip\r\n\r\nxx'],
    ['Transfer-Encoding: identity', 'Transfer-Encoding: identity\r\n\r\nxx'],
    ['a space before the colon', 'Content-Length : 5\r\n\r\nhello'],
    ['an obs-fold line', 'X-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF in the head', 'X-A: 1\nContent-Length: 0\r\n\r\n'],
    ['a NUL in a header value', 'X-A: a\u0000b\r\n\r\n'],
    ['a chunk size past 64 bits', 'Transfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\nx\r\n0\r\n\r\n'],
    ['a quoted CRLF in a chunk extension', 'Transfer-Encoding: chunked\r\n\r\n5;a="\r\n"\r\nhello\r\n0\r\n\r\n'],
    ['bare-LF chunk lines', 'Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\r\n\r\n'],
    ['Content-Length in trailers', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'],
    [
      'Transfer-Encoding in trailers',
      'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
    ],
  ])('refuses %s with 400; the backend reads no request from it', async (_name, rest) => {
    r = await rig(options);
    const res = await r.send(`POST /p HTTP/1.1\r\nHost: a.example\r\n${rest}`);
    expect(res.status).toBe(400);
    expect(r.backend.requests.filter((q) => q.body !== '')).toEqual([]);
    expect(r.backend.malformed).toEqual([]);
    await until(() => r?.lb.backends()[0]?.active === 0);
  });

  it('refuses an unknown transfer coding with 501 and writes a known list out cleanly', async () => {
    r = await rig(options);
    const unknown = await r.send(
      'POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-rot13, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
    );
    expect(unknown.status).toBe(501);
    await r.send(
      'POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: GZIP ,chunked\r\nConnection: close\r\n\r\n2\r\nzz\r\n0\r\n\r\n',
    );
    expect(r.backend.requests.map((q) => header(q, 'transfer-encoding'))).toEqual(['gzip, chunked']);
    expect(r.backend.requests[0]?.body).toBe('zz');
  });

  it('does not let a pipelined second request ride in a body (CL.TE)', async () => {
    r = await rig(options);
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: a.example\r\n\r\n';
    const res = await r.send(
      `POST /p HTTP/1.1\r\nHost: a.example\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}` +
        'GET /next HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
    );
    expect(res.status).toBe(200);
    await until(() => r?.backend.requests.length === 2);
    expect(r.backend.requests.map((q) => q.target)).toEqual(['/p', '/next']);
    expect(r.backend.requests[0]?.body).toBe(smuggled);
    expect(r.backend.malformed).toEqual([]);
  });

  it('forwards trailer fields of a chunked request and of a chunked response', async () => {
    r = await rig(options, {}, () =>
      ['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Trailer: X-Sum', '', '2', 'ok', '0', 'X-Sum: 42', '', ''].join(
        '\r\n',
      ),
    );
    const res = await r.send(
      'PUT /p HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Check: abc\r\n\r\n',
    );
    expect(r.backend.requests[0]?.trailers).toEqual([['X-Check', 'abc']]);
    expect(res.status).toBe(200);
    expect(res.rest).toMatch(/^2\r\nok\r\n0\r\nx-sum: 42\r\n\r\n$/i);
  });

  it('sends Expect: 100-continue bodies after a 100 from the balancer, without Expect upstream', async () => {
    r = await rig(options);
    const res = await r.send(
      'PUT /p HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    expect(res.raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
    const seen = r.backend.requests[0];
    expect(seen?.body).toBe('hello');
    expect(header(seen, 'expect')).toBeUndefined();
  });

  it.each([
    ['HEAD', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'],
    ['304', 'GET', 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'],
  ])(
    'answers %s with no body, drops stray bytes, and never reuses that connection on them',
    async (_n, method, reply) => {
      // The stray bytes after the head would read as the next response on a reused connection.
      let n = 0;
      r = await rig(options, {}, () => (n++ === 0 ? `${reply}stray` : OK));
      const first = await r.send(`${method} /1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
      expect(first.rest).toBe('');
      if (method !== 'HEAD') {
        expect(responseHeader(first, 'content-length')).toBeUndefined();
        expect(responseHeader(first, 'transfer-encoding')).toBeUndefined();
      }
      const second = await r.send('GET /2 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
      expect(second.status).toBe(200);
      expect(second.rest).toBe('ok');
    },
  );

  it('answers a header block over the limit with 431 and forwards nothing', async () => {
    r = await rig(options);
    const res = await r.send(`GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(r.backend.requests).toEqual([]);
  });

  it('streams a large body byte for byte', async () => {
    r = await rig(options);
    const body = 'abcdefghij'.repeat(20_000);
    const res = await r.send(
      `POST /big HTTP/1.1\r\nHost: a.example\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(res.status).toBe(200);
    expect(r.backend.requests[0]?.body).toBe(body);
  });

  it('never forwards hop-by-hop headers, either way', async () => {
    r = await rig(options, {}, () =>
      [
        'HTTP/1.1 200 OK',
        'Connection: X-Backend-Secret, keep-alive',
        'X-Backend-Secret: s',
        'Keep-Alive: timeout=5',
        'Proxy-Authenticate: Basic',
        'Upgrade: h2c',
        'Content-Length: 2',
        '',
        'ok',
      ].join('\r\n'),
    );
    const res = await r.send(
      [
        'GET /p HTTP/1.1',
        'Host: a.example',
        'Connection: X-Client-Secret, close',
        'X-Client-Secret: c',
        'Keep-Alive: 300',
        'TE: trailers',
        'Upgrade: h2c',
        'Proxy-Authorization: Basic abc',
        'Proxy-Connection: keep-alive',
        '',
        '',
      ].join('\r\n'),
    );
    const names = headerNames(r.backend.requests[0]);
    for (const name of ['x-client-secret', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection'])
      expect(names).not.toContain(name);
    expect(header(r.backend.requests[0], 'connection')).toBe('keep-alive');
    const clientNames = res.headers.map(([k]) => k);
    for (const name of ['x-backend-secret', 'keep-alive', 'proxy-authenticate', 'upgrade'])
      expect(clientNames).not.toContain(name);
  });
});
