import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancerOptions } from '../../src/index.js';
import { until } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { type Rig, rig } from './rig.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

/** Each way a body is sent upstream. */
const PATHS: ReadonlyArray<readonly [string, Omit<LoadBalancerOptions, 'backends'>]> = [
  ['streamed', { retry: false }],
  ['buffered for retry', {}],
  ['past retry.maxBufferBytes', { retry: { maxBufferBytes: 8 } }],
  ['hedged', { hedge: { delay: 5 } }],
];

const BAD_BODIES: ReadonlyArray<readonly [string, string]> = [
  ['a chunk size past 64 bits', 'ffffffffffffffff1\r\nx\r\n0\r\n\r\n'],
  ['a quoted CRLF in a chunk extension', '5;a="\r\n"\r\nhello\r\n0\r\n\r\n'],
  ['bare-LF chunk lines', '5\r\nhello\r\n5\nhello\n0\r\n\r\n'],
  ['Content-Length in trailers', '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'],
  ['Transfer-Encoding in trailers', '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'],
];

function frontConnections(rig: Rig): Promise<number> {
  return new Promise((resolve, reject) =>
    rig.front.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

/** Asserts the exchange left nothing behind: backend free, no client connection, the balancer still answers. */
async function clean(rig: Rig): Promise<void> {
  await until(() => rig.lb.backends()[0]?.active === 0);
  for (let i = 0; i < 200 && (await frontConnections(rig)) > 0; i++) await new Promise((res) => setImmediate(res));
  expect(await frontConnections(rig)).toBe(0);
  expect(rig.backend.malformed).toEqual([]);
  // The client's fault is not the backend's.
  expect(rig.lb.backends()[0]?.failures).toBe(0);
  expect(rig.lb.backends()[0]?.status).toBe('healthy');
  const ok = await rig.send('GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  expect(ok.status).toBe(200);
}

describe.each(FORWARDERS)('request bodies that fail ($name)', ({ options }) => {
  describe.each(PATHS)('%s', (_path, extra) => {
    it.each(BAD_BODIES)('answers 400 to %s and ends only that exchange', async (_name, body) => {
      r = await rig(options, extra);
      const codes: Array<string | undefined> = [];
      r.lb.on('request', (e) => codes.push(e.error));
      const res = await r.send(`PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      expect(res.status).toBe(400);
      await until(() => codes.length === 1);
      expect(codes).toEqual(['ERR_BAD_REQUEST']);
      // Whatever the backend read of it, it never read a complete request with that body.
      expect(r.backend.requests.filter((q) => q.target === '/p')).toEqual([]);
      await clean(r);
    });

    it('frees everything when the client cuts a chunked body off mid-chunk', async () => {
      r = await rig(options, extra);
      const socket = net.connect(r.front.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.on('error', () => {});
      socket.write(`PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n${'x'.repeat(20)}`);
      // The bytes go out before the FIN: the body is cut off, not lost.
      socket.end();
      await clean(r);
      expect(r.backend.requests.filter((q) => q.target === '/p')).toEqual([]);
    });

    it('frees everything when the client cuts a Content-Length body off', async () => {
      r = await rig(options, extra);
      const socket = net.connect(r.front.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.on('error', () => {});
      socket.write(`PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n${'x'.repeat(40)}`);
      socket.end();
      await clean(r);
      expect(r.backend.requests.filter((q) => q.target === '/p')).toEqual([]);
    });
  });
});
