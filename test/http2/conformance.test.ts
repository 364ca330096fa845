import type http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../../src/index.js';
import { forwarderOptions } from '../conformance/forwarders.js';
import { listen } from '../helpers.js';
import { dataFrame, headersFrame, type RawOutcome, rawH2 } from './frames.js';

// The hardening suite's framing rules on HTTP/2, with frames node's client would refuse to build.
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Arrival {
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  complete: boolean;
}

async function front(): Promise<{ port: number; arrivals: Arrival[] }> {
  const arrivals: Arrival[] = [];
  const backend = await listen((req, res) => {
    const arrival: Arrival = { headers: req.headers, rawHeaders: req.rawHeaders, body: '', complete: false };
    arrivals.push(arrival);
    req.on('data', (chunk: Buffer) => {
      arrival.body += chunk.toString('latin1');
    });
    req.on('end', () => {
      arrival.complete = true;
      res.end('ok');
    });
  });
  const lb = createLoadBalancer({ ...forwarderOptions(), backends: [{ url: backend.url }], retry: false });
  const server = http2.createServer({}, lb.handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () => backend.close(),
    () => lb.close(),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
  return { port: (server.address() as AddressInfo).port, arrivals };
}

const BASE: ReadonlyArray<readonly [string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':authority', 'app.example'],
  [':path', '/upload'],
];

/** Refused: the stream reset or the connection closed with an error, or a 4xx answer. */
function refused(outcome: RawOutcome): boolean {
  if (outcome.reset !== undefined && outcome.reset !== 0) return true;
  if (outcome.goaway !== undefined && outcome.goaway !== 0) return true;
  return outcome.status === 400;
}

describe('HTTP/2 conformance (raw frames)', () => {
  it('sends a well-formed raw request through (the helper speaks HTTP/2)', async () => {
    const { port, arrivals } = await front();
    const outcome = await rawH2(port, [
      headersFrame([...BASE, ['content-length', '5']], false),
      dataFrame('hello', true),
    ]);
    expect(outcome.status).toBe(200);
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]).toMatchObject({ body: 'hello', complete: true });
    expect(arrivals[0]?.headers.host).toBe('app.example');
  });

  for (const [label, value] of [
    ['CR LF', 'a\r\nx-injected: 1'],
    ['LF', 'a\nx-injected: 1'],
    ['NUL', 'a\u0000b'],
    ['CR', 'a\rb'],
  ] as const) {
    it(`never forwards a header value with ${label}`, async () => {
      const { port, arrivals } = await front();
      const outcome = await rawH2(port, [headersFrame([...BASE, ['x-evil', value]], true)]);
      // nghttp2 drops an invalid field (its default) or the stream is refused: either way it never goes upstream.
      expect(refused(outcome) || outcome.status === 200).toBe(true);
      expect(arrivals.flatMap((a) => a.rawHeaders).some((h) => /[\r\n\0]|evil|injected/i.test(h))).toBe(false);
    });
  }

  it('never forwards a header name with upper case, a space or a colon', async () => {
    const { port, arrivals } = await front();
    for (const name of ['X-Upper', 'x bad', 'x:colon', 'x\r\ny']) {
      const outcome = await rawH2(port, [headersFrame([...BASE, [name, 'marker']], true)]);
      expect(refused(outcome) || outcome.status === 200).toBe(true);
    }
    expect(arrivals.flatMap((a) => a.rawHeaders).includes('marker')).toBe(false);
  });

  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) {
    it(`refuses the connection-specific header ${name}`, async () => {
      const { port, arrivals } = await front();
      const value = name === 'transfer-encoding' ? 'chunked' : name === 'upgrade' ? 'websocket' : 'keep-alive';
      const outcome = await rawH2(port, [headersFrame([...BASE, [name, value]], true)]);
      expect(refused(outcome)).toBe(true);
      expect(arrivals).toHaveLength(0);
    });
  }

  it('refuses TE other than trailers, and takes TE: trailers without forwarding it', async () => {
    const { port, arrivals } = await front();
    const bad = await rawH2(port, [headersFrame([...BASE, ['te', 'gzip']], true)]);
    expect(refused(bad)).toBe(true);
    expect(arrivals).toHaveLength(0);
    const good = await rawH2(port, [headersFrame([...BASE, ['te', 'trailers']], true)]);
    expect(good.status).toBe(200);
    expect(arrivals[0]?.headers.te).toBeUndefined();
  });

  it('refuses a body shorter than its content-length; the backend never reads a complete request', async () => {
    const { port, arrivals } = await front();
    const outcome = await rawH2(port, [
      headersFrame([...BASE, ['content-length', '10']], false),
      dataFrame('abc', true),
    ]);
    expect(refused(outcome)).toBe(true);
    expect(arrivals.filter((a) => a.complete)).toHaveLength(0);
  });

  it('refuses a body longer than its content-length; no extra byte reaches the backend', async () => {
    const { port, arrivals } = await front();
    const outcome = await rawH2(port, [
      headersFrame([...BASE, ['content-length', '2']], false),
      dataFrame('abGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n', true),
    ]);
    expect(refused(outcome)).toBe(true);
    expect(arrivals.every((a) => a.body.length <= 2)).toBe(true);
    expect(arrivals.some((a) => a.complete && a.body !== 'ab')).toBe(false);
  });

  it('refuses a pseudo-header after a regular header and a missing :path', async () => {
    const { port, arrivals } = await front();
    const late = await rawH2(port, [
      headersFrame(
        [
          [':method', 'GET'],
          [':scheme', 'http'],
          ['x-a', '1'],
          [':path', '/'],
        ],
        true,
      ),
    ]);
    expect(refused(late)).toBe(true);
    const missing = await rawH2(port, [
      headersFrame(
        [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':authority', 'a'],
        ],
        true,
      ),
    ]);
    expect(refused(missing)).toBe(true);
    expect(arrivals).toHaveLength(0);
  });

  it('refuses an invalid :authority with 400', async () => {
    const { port, arrivals } = await front();
    const outcome = await rawH2(port, [
      headersFrame(
        [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':authority', 'user@evil.example'],
          [':path', '/'],
        ],
        true,
      ),
    ]);
    expect(refused(outcome)).toBe(true);
    expect(arrivals).toHaveLength(0);
  });
});
