import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fixture, setup } from './fixture.js';
import { rawExchange, request } from './helpers.js';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await tick();
  expect(condition()).toBe(true);
}

function frontConnections(fixture: Fixture): Promise<number> {
  return new Promise((resolve, reject) =>
    fixture.front.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

describe('robustness', () => {
  it('answers a header block over the size limit with 431', async () => {
    fx = await setup(['a']);
    const raw = await rawExchange(fx.front.port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 431/);
    expect(fx.backends[0]?.requests).toHaveLength(0);
  });

  it('answers 431 to more header lines than the server parses, rather than forward a request cut short', async () => {
    fx = await setup(['a']);
    const lines = (n: number) => Array(n).fill('x:y').join('\r\n');
    const raw = await rawExchange(
      fx.front.port,
      `GET / HTTP/1.1\r\nHost: a\r\n${lines(2100)}\r\nConnection: close\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 431/);
    expect(fx.backends[0]?.requests).toHaveLength(0);
    const ok = await rawExchange(
      fx.front.port,
      `GET / HTTP/1.1\r\nHost: a\r\n${lines(400)}\r\nConnection: close\r\n\r\n`,
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200/);
    expect(fx.backends[0]?.requests[0]?.rawHeaders.filter((name) => name === 'x')).toHaveLength(400);
  });

  it('answers HEAD, 204 and 304 without a body', async () => {
    fx = await setup(['a']);
    const head = await request(fx.front.port, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    fx.backends[0]?.setStatus(204);
    expect((await request(fx.front.port)).body.length).toBe(0);
  });

  it('survives a client that aborts mid-upload, and frees the backend', async () => {
    fx = await setup(['a']);
    const socket = net.connect(fx.front.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n');
    socket.write('x'.repeat(1000));
    await until(() => (fx?.backends[0]?.requests.length ?? 0) === 1);
    socket.destroy();
    await until(() => fx?.lb.backends()[0]?.active === 0);
    expect((await request(fx.front.port)).status).toBe(200);
  });

  it('leaks no sockets after a mix of failures, aborts and successes', async () => {
    fx = await setup(['a', 'b'], { timeouts: { response: 30 }, retry: false });
    const [a, b] = fx.backends;
    const outcomes: Array<Promise<unknown>> = [];
    for (let round = 0; round < 5; round++) {
      await a?.fail((['reset', 'garbage', 'hang', 'close-mid-body', null] as const)[round] ?? null);
      for (let i = 0; i < 4; i++) outcomes.push(request(fx.front.port, { path: `/${round}/${i}` }).catch((e) => e));
      // A client that goes away right after sending.
      outcomes.push(rawExchange(fx.front.port, 'GET /gone HTTP/1.1\r\nHost: a\r\n\r\n', 5));
      await Promise.all(outcomes.splice(0));
    }
    await a?.fail(null);
    await until(() => fx?.lb.backends().every((backend) => backend.active === 0) === true);
    fx.front.server.closeIdleConnections();
    await until(() => (a?.openConnections ?? 0) <= 4 && (b?.openConnections ?? 0) <= 4);
    expect(await frontConnections(fx)).toBe(0);
    // Still healthy afterwards.
    expect((await request(fx.front.port)).status).toBe(200);
  });

  it('keeps the process up when a request listener throws', async () => {
    fx = await setup(['a']);
    fx.lb.on('request', () => {
      throw new Error('listener bug');
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      expect((await request(fx.front.port)).status).toBe(200);
      await until(() => warnings.length > 0);
      expect(warnings[0]).toMatch(/listener threw/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('malformed or aborted request bodies', () => {
  const bodies = {
    'a chunk size past 64 bits': 'ffffffffffffffff1\r\nx\r\n0\r\n\r\n',
    'Content-Length in trailers': '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n',
    'a quoted CRLF in a chunk extension': '5;a="\r\n"\r\nhello\r\n0\r\n\r\n',
    'bare-LF chunk lines': '5\r\nhello\r\n5\nhello\n0\r\n\r\n',
  };
  for (const [name, body] of Object.entries(bodies)) {
    for (const [path, options] of [
      ['streamed', { retry: false }],
      ['buffered for retry', {}],
      ['past maxBufferBytes', { retry: { maxBufferBytes: 4 } }],
    ] as const) {
      it(`answers 400 to ${name} (${path}) and frees the backend`, async () => {
        fx = await setup(['a'], options);
        const raw = await rawExchange(
          fx.front.port,
          `PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
          200,
        );
        expect(raw).toMatch(/^HTTP\/1\.1 400/);
        await until(() => fx?.lb.backends()[0]?.active === 0);
        expect((await request(fx.front.port)).status).toBe(200);
      });
    }
  }
});
