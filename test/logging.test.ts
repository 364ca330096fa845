import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancer, Logger, SwitchyardEvents } from '../src/index.js';
import { createMemoryBackend } from '../src/testing/index.js';
import { type Fixture, setup } from './fixture.js';
import { rawExchange, request } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

let fx: Fixture | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function recorder(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Resolves with the `request` event of the next `n` requests. */
function finished(lb: LoadBalancer, n = 1): Promise<SwitchyardEvents['request'][]> {
  return new Promise((resolve) => {
    const seen: SwitchyardEvents['request'][] = [];
    const listener = (e: SwitchyardEvents['request']) => {
      seen.push(e);
      if (seen.length === n) {
        lb.off('request', listener);
        resolve(seen);
      }
    };
    lb.on('request', listener);
  });
}

function upstream(i = 0) {
  const recorded = fx?.backends[0]?.requests[i];
  if (!recorded) throw new Error('the backend got no request');
  return recorded.headers;
}

describe('request logging', () => {
  it('logs one line per request with id, trace, method, path, backend, status, duration and attempts', async () => {
    const { logger, lines } = recorder();
    fx = await setup(['a'], { logger });
    const done = finished(fx.lb, 2);
    const first = await request(fx.front.port, { path: '/items/42?token=secret' });
    await request(fx.front.port, { method: 'POST', path: '/orders', body: 'x' });
    await done;
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      level: 'info',
      obj: {
        requestId: first.headers['x-request-id'],
        traceId: TRACEPARENT.exec(String(upstream(0).traceparent))?.[1],
        method: 'GET',
        path: '/items/42',
        backend: 'a',
        status: 200,
        attempts: 1,
        error: undefined,
      },
    });
    expect(requests[0]?.obj.durationMs).toBeGreaterThan(0);
    expect(requests[1]?.obj).toMatchObject({ method: 'POST', path: '/orders', status: 200 });
    expect(JSON.stringify(lines)).not.toContain('secret');
  });

  it("leaves the caller's logger object usable (not frozen)", async () => {
    const logger = {
      lines: [] as unknown[],
      debug() {},
      info(obj: object) {
        this.lines.push(obj);
      },
      warn() {},
      error() {},
    };
    fx = await setup(['a'], { logger });
    const done = finished(fx.lb);
    await request(fx.front.port);
    await done;
    expect(Object.isFrozen(logger)).toBe(false);
    expect(logger.lines).toHaveLength(1);
  });

  it('logs at the configured level, and a 5xx at error with its code', async () => {
    const { logger, lines } = recorder();
    fx = await setup([], { logger, logLevel: 'debug' });
    const done = finished(fx.lb);
    expect((await request(fx.front.port)).status).toBe(503);
    await done;
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'request',
        obj: expect.objectContaining({ error: 'ERR_NO_BACKEND' }),
      }),
    ]);
    fx.lb.addBackend(createMemoryBackend({ id: 'late' }).config);
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'backend added', obj: { backend: 'late' } });
  });

  it('logs the retry and the failed attempt at debug', async () => {
    const { logger, lines } = recorder();
    fx = await setup(['a', 'b'], { logger, logLevel: 'debug' });
    await fx.backends[0]?.fail('reset');
    const done = finished(fx.lb);
    await request(fx.front.port);
    await done;
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'upstream attempt failed'],
      ['debug', 'retrying on another backend'],
      ['debug', 'request'],
    ]);
    expect(lines.at(-1)?.obj).toMatchObject({ backend: 'b', attempts: 2, status: 200 });
  });

  it('puts the ids on ctx and in the request event', async () => {
    let seen: { requestId?: string; traceId?: string; spanId?: string } = {};
    fx = await setup(['a'], {
      middleware: [
        {
          name: 'peek',
          handle: async (ctx, next) => {
            seen = { requestId: ctx.requestId, traceId: ctx.traceId, spanId: ctx.spanId };
            await next();
          },
        },
      ],
    });
    const done = finished(fx.lb);
    await request(fx.front.port, { path: '/p?q=1', headers: { 'x-request-id': 'req-1' } });
    const [event] = await done;
    const [, traceId, spanId] = TRACEPARENT.exec(String(upstream().traceparent)) ?? [];
    expect(seen).toEqual({ requestId: 'req-1', traceId, spanId });
    expect(event).toMatchObject({ requestId: 'req-1', traceId, path: '/p' });
  });
});

describe('X-Request-Id', () => {
  it('generates an id, sends it upstream and returns it to the client', async () => {
    fx = await setup(['a']);
    const reply = await request(fx.front.port);
    expect(reply.headers['x-request-id']).toMatch(UUID);
    expect(upstream()['x-request-id']).toBe(reply.headers['x-request-id']);
    const again = await request(fx.front.port);
    expect(again.headers['x-request-id']).not.toBe(reply.headers['x-request-id']);
  });

  it('propagates a well-formed id from the client', async () => {
    fx = await setup(['a']);
    const reply = await request(fx.front.port, { headers: { 'X-Request-Id': 'client-7f3a:01' } });
    expect(reply.headers['x-request-id']).toBe('client-7f3a:01');
    expect(upstream()['x-request-id']).toBe('client-7f3a:01');
  });

  it.each([
    ['too long', 'x'.repeat(129)],
    ['with spaces and quotes', 'a "b" c'],
    ['with markup', '<script>alert(1)</script>'],
    ['repeated', ['one', 'two']],
  ])('replaces an id that is %s', async (_what, value) => {
    fx = await setup(['a']);
    const reply = await request(fx.front.port, { headers: { 'x-request-id': value } });
    expect(reply.headers['x-request-id']).toMatch(UUID);
    expect(upstream()['x-request-id']).toBe(reply.headers['x-request-id']);
    expect(fx.backends[0]?.requests[0]?.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1);
  });

  it("returns the request's own id even when the backend echoes another", async () => {
    const backend = createMemoryBackend({
      id: 'echo',
      handler: (_req, res) => {
        res.setHeader('x-request-id', 'from-backend');
        res.end('ok');
      },
    });
    fx = await setup([]);
    cleanups.push(() => backend.close());
    fx.lb.addBackend(backend.config);
    const reply = await request(fx.front.port, { headers: { 'x-request-id': 'mine' } });
    expect(reply.headers['x-request-id']).toBe('mine');
  });

  it('returns the id on responses the balancer makes itself', async () => {
    fx = await setup([]);
    const reply = await request(fx.front.port, { headers: { 'x-request-id': 'lost-1' } });
    expect(reply.status).toBe(503);
    expect(reply.headers['x-request-id']).toBe('lost-1');
  });

  it('uses another header when configured, and none with requestId: false', async () => {
    fx = await setup(['a'], { requestId: { header: 'X-Correlation-Id' } });
    const reply = await request(fx.front.port);
    expect(reply.headers['x-correlation-id']).toMatch(UUID);
    expect(reply.headers['x-request-id']).toBeUndefined();
    expect(upstream()['x-correlation-id']).toBe(reply.headers['x-correlation-id']);
    await fx.close();
    fx = await setup(['a'], { requestId: false });
    const plain = await request(fx.front.port, { headers: { 'x-request-id': 'a b' } });
    expect(plain.headers['x-request-id']).toBeUndefined();
    // Off means untouched: the client's header is forwarded as any other.
    expect(upstream()['x-request-id']).toBe('a b');
  });
});

describe('traceparent', () => {
  it('continues a valid trace with the same trace id, a new span id, the flags and tracestate', async () => {
    fx = await setup(['a']);
    await request(fx.front.port, {
      headers: { traceparent: `00-${TRACE}-${SPAN}-00`, tracestate: 'vendor=abc' },
    });
    const [, traceId, spanId, flags] = TRACEPARENT.exec(String(upstream().traceparent)) ?? [];
    expect(traceId).toBe(TRACE);
    expect(spanId).not.toBe(SPAN);
    expect(flags).toBe('00');
    expect(upstream().tracestate).toBe('vendor=abc');
  });

  it('starts a new sampled trace when the client sent none', async () => {
    fx = await setup(['a']);
    await request(fx.front.port);
    await request(fx.front.port);
    const first = TRACEPARENT.exec(String(upstream(0).traceparent));
    const second = TRACEPARENT.exec(String(upstream(1).traceparent));
    expect(first?.[3]).toBe('01');
    expect(first?.[1]).not.toBe(second?.[1]);
  });

  it.each([
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['a short span id', `00-${TRACE}-${SPAN.slice(2)}-01`],
    ['repeated', [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`]],
  ])('starts a new trace, without the old tracestate, when traceparent is %s', async (_what, value) => {
    fx = await setup(['a']);
    await request(fx.front.port, { headers: { traceparent: value, tracestate: 'vendor=abc' } });
    const match = TRACEPARENT.exec(String(upstream().traceparent));
    expect(match).not.toBeNull();
    expect(match?.[1]).not.toBe(TRACE);
    expect(match?.[1]).not.toBe('0'.repeat(32));
    expect(upstream().tracestate).toBeUndefined();
  });

  it('forwards traceparent untouched with tracing: false', async () => {
    fx = await setup(['a'], { tracing: false });
    await request(fx.front.port, { headers: { traceparent: 'whatever' } });
    expect(upstream().traceparent).toBe('whatever');
    await request(fx.front.port);
    expect(upstream(1).traceparent).toBeUndefined();
  });
});

describe('upgrades', () => {
  it('carry the request id and trace context to the backend', async () => {
    fx = await setup(['a']);
    const seen = new Promise<Record<string, unknown>>((resolve) => {
      fx?.backends[0]?.server.on('upgrade', (req, socket) => {
        resolve(req.headers);
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
    });
    void rawExchange(
      fx.front.port,
      `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: ws-1\r\ntraceparent: 00-${TRACE}-${SPAN}-01\r\n\r\n`,
    );
    const headers = await seen;
    expect(headers['x-request-id']).toBe('ws-1');
    expect(String(headers.traceparent)).toMatch(new RegExp(`^00-${TRACE}-(?!${SPAN})[0-9a-f]{16}-01$`));
  });
});
