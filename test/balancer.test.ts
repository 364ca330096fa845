import { afterEach, describe, expect, it } from 'vitest';
import type { SwitchyardEvents } from '../src/index.js';
import { createMemoryBackend } from '../src/testing/index.js';
import { type Fixture, serve, setup } from './fixture.js';
import { rawExchange, request } from './helpers.js';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe('createLoadBalancer end to end', () => {
  it('spreads requests over backends in round-robin order', async () => {
    fx = await setup(['a', 'b', 'c']);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await request(fx.front.port, { path: `/r${i}` });
      expect(reply.status).toBe(200);
      seen.push(reply.json<{ backend: string }>().backend);
    }
    expect(seen).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('answers 503 ERR_NO_BACKEND with a JSON body when no backend is configured', async () => {
    fx = await setup([]);
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(503);
    expect(reply.headers['content-type']).toMatch(/application\/json/);
    expect(reply.json()).toEqual({ error: { code: 'ERR_NO_BACKEND', message: 'no backend is configured' } });
  });

  it('emits one request event per request with backend, status and duration', async () => {
    fx = await setup(['a']);
    const events: SwitchyardEvents['request'][] = [];
    fx.lb.on('request', (e) => events.push(e));
    await request(fx.front.port, { method: 'PUT', path: '/x', body: 'hi' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ method: 'PUT', backend: 'a', status: 200, attempts: 1 });
    expect(events[0]?.durationMs).toBeGreaterThanOrEqual(0);
    expect(events[0]?.error).toBeUndefined();
  });

  it('reuses upstream connections across requests (keep-alive agent per backend)', async () => {
    fx = await setup(['a']);
    for (let i = 0; i < 5; i++) await request(fx.front.port, { headers: { connection: 'close' } });
    expect(fx.backends[0]?.connections).toBe(1);
    expect(fx.backends[0]?.requests.map((r) => r.headers.connection)).toEqual(Array(5).fill('keep-alive'));
  });
});

describe('upstream failures', () => {
  it('answers 502 ERR_UPSTREAM_RESET when the backend resets before responding', async () => {
    fx = await setup(['a'], { retry: false });
    await fx.backends[0]?.fail('reset');
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_RESET' } });
  });

  it('answers 502 ERR_UPSTREAM_CONNECT when the backend refuses connections', async () => {
    fx = await setup(['a'], { retry: false });
    await fx.backends[0]?.fail('refuse');
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
  });

  it('answers 502 ERR_UPSTREAM_PROTOCOL when the backend answers garbage', async () => {
    fx = await setup(['a'], { retry: false });
    await fx.backends[0]?.fail('garbage');
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_PROTOCOL' } });
  });

  it('answers 504 ERR_UPSTREAM_TIMEOUT when the backend stalls', async () => {
    fx = await setup(['a'], { retry: false, timeouts: { response: 50 } });
    await fx.backends[0]?.fail('hang');
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(504);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_TIMEOUT' } });
  });

  it('cuts the client connection when the backend dies mid-body, and reports it', async () => {
    fx = await setup(['a'], { retry: false });
    const events: SwitchyardEvents['request'][] = [];
    fx.lb.on('request', (e) => events.push(e));
    await fx.backends[0]?.fail('close-mid-body');
    await expect(request(fx.front.port)).rejects.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events[0]?.error).toBe('ERR_UPSTREAM_ABORTED');
    // The balancer still serves afterwards.
    await fx.backends[0]?.fail(null);
    expect((await request(fx.front.port)).status).toBe(200);
  });
});

describe('timeouts on the way', () => {
  it('cuts the client connection when the body stalls longer than timeouts.idle after its headers', async () => {
    // Headers and a first chunk, then silence: the idle timer must be running although the
    // response's first packet is parsed by the time it would be armed.
    const stalling = createMemoryBackend({
      id: 'a',
      handler: (_req, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
      },
    });
    fx = await serve([stalling], { retry: false, timeouts: { idle: 50 } });
    const events: SwitchyardEvents['request'][] = [];
    fx.lb.on('request', (e) => events.push(e));
    const started = Date.now();
    await expect(request(fx.front.port)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    await new Promise((resolve) => setImmediate(resolve));
    // The undici forwarder reports the stall as such; the http-proxy-3 one (already before
    // this test) as ERR_UPSTREAM_ABORTED, the socket's destruction reaching the body first.
    expect(events[0]?.error).toMatch(/^ERR_UPSTREAM_(TIMEOUT|ABORTED)$/);
  });

  it('keeps serving bodies that arrive after their headers, in later packets', async () => {
    const slow = createMemoryBackend({
      id: 'a',
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.flushHeaders();
        setTimeout(() => res.write('one,'), 20);
        setTimeout(() => res.end('two'), 40);
      },
    });
    fx = await serve([slow], { retry: false, timeouts: { idle: 1_000 } });
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('one,two');
  });

  it('answers 504 for a request still waiting for a pooled socket when timeouts.connect is over', async () => {
    // One socket, held by a request the backend never answers: the next one waits in the agent's queue.
    const held = createMemoryBackend({ id: 'a', handler: () => {} });
    fx = await serve([held], {
      retry: false,
      connectionPool: { maxSockets: 1 },
      timeouts: { connect: 50, response: 10_000 },
    });
    const first = request(fx.front.port).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5_000);
    await fx.close();
    fx = undefined;
    await first;
  });
});

describe('retries', () => {
  it('retries an idempotent request on another backend after a reset', async () => {
    fx = await setup(['a', 'b']);
    await fx.backends[0]?.fail('reset');
    const retries: SwitchyardEvents['retry'][] = [];
    fx.lb.on('retry', (e) => retries.push(e));
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'b' });
    expect(retries).toMatchObject([{ backend: 'a', attempt: 2, reason: 'reset' }]);
  });

  it('never sends a POST twice', async () => {
    fx = await setup(['a', 'b']);
    await fx.backends[0]?.fail('reset');
    const reply = await request(fx.front.port, { method: 'POST', body: 'once' });
    expect(reply.status).toBe(502);
    expect(fx.backends[0]?.requests).toHaveLength(1);
    expect(fx.backends[1]?.requests).toHaveLength(0);
  });

  it('retries a 503 on another backend and discards the first answer', async () => {
    fx = await setup(['a', 'b']);
    fx.backends[0]?.setStatus(503);
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'b' });
  });

  it('returns the last failure when every backend has been tried', async () => {
    fx = await setup(['a', 'b'], { retry: { attempts: 5 } });
    fx.backends[0]?.setStatus(503);
    fx.backends[1]?.setStatus(503);
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(503);
    expect(fx.backends[0]?.requests.length).toBe(1);
    expect(fx.backends[1]?.requests.length).toBe(1);
  });
});

describe('backend management', () => {
  it('adds, updates and removes backends at run time with events', async () => {
    fx = await setup(['a']);
    const log: string[] = [];
    fx.lb.on('backend:added', ({ backend }) => log.push(`added ${backend.id}`));
    fx.lb.on('backend:updated', ({ backend, previous }) =>
      log.push(`updated ${backend.id} ${previous.weight}->${backend.weight}`),
    );
    fx.lb.on('backend:removed', ({ backend }) => log.push(`removed ${backend.id}`));
    const added = fx.lb.addBackend({ id: 'x', url: 'http://127.0.0.1:1' });
    expect(added).toMatchObject({ id: 'x', weight: 1, status: 'healthy', active: 0 });
    fx.lb.updateBackend('x', { weight: 4 });
    await fx.lb.removeBackend('x');
    expect(log).toEqual(['added x', 'updated x 1->4', 'removed x']);
    expect(fx.lb.backends().map((b) => b.id)).toEqual(['a']);
  });

  it('refuses a duplicate id, an unknown id and a bad update', async () => {
    fx = await setup(['a']);
    expect(() => fx?.lb.addBackend({ id: 'a', url: 'http://127.0.0.1:1' })).toThrow(
      expect.objectContaining({ code: 'ERR_DUPLICATE_BACKEND' }),
    );
    expect(() => fx?.lb.updateBackend('nope', { weight: 2 })).toThrow(
      expect.objectContaining({ code: 'ERR_BACKEND_NOT_FOUND' }),
    );
    expect(() => fx?.lb.updateBackend('a', { weight: -2 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', path: 'update.weight' }),
    );
    await expect(fx.lb.removeBackend('nope')).rejects.toMatchObject({ code: 'ERR_BACKEND_NOT_FOUND' });
  });

  it('drains: new requests go elsewhere at once, removal waits for the in-flight one', async () => {
    fx = await setup(['a', 'b']);
    const [a, b] = fx.backends as [NonNullable<Fixture['backends'][0]>, NonNullable<Fixture['backends'][0]>];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const started = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const slow = createGateHandler(gate, arrived);
    a.server.removeAllListeners('request');
    a.server.on('request', slow);
    const inflight = request(fx.front.port, { path: '/slow' });
    await started;
    let removed = false;
    const removal = fx.lb.removeBackend('a', { drain: true }).then((result) => {
      removed = true;
      return result;
    });
    // While draining, everything goes to b.
    for (let i = 0; i < 3; i++) expect((await request(fx.front.port)).json()).toMatchObject({ backend: 'b' });
    expect(removed).toBe(false);
    release();
    expect((await inflight).text).toBe('slow done');
    const result = await removal;
    expect(result).toMatchObject({ timedOut: false, abandoned: 0, backend: { id: 'a' } });
    expect(b.requests).toHaveLength(3);
  });

  it('gives up a drain after its timeout and cuts what is left', async () => {
    fx = await setup(['a']);
    await fx.backends[0]?.fail('hang');
    const inflight = request(fx.front.port).catch((error: Error) => error);
    while ((fx.backends[0]?.requests.length ?? 0) === 0) await new Promise((resolve) => setImmediate(resolve));
    const result = await fx.lb.removeBackend('a', { timeout: 20 });
    expect(result).toMatchObject({ timedOut: true, abandoned: 1 });
    const outcome = await inflight;
    expect(outcome instanceof Error || (outcome as { status: number }).status >= 500).toBe(true);
  });

  it('closes gracefully: refuses new requests with 503 ERR_CLOSED after close()', async () => {
    fx = await setup(['a']);
    await fx.lb.close();
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(503);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_CLOSED' } });
  });
});

describe('hostile input', () => {
  it('answers a malformed request line with 400 and keeps serving', async () => {
    fx = await setup(['a']);
    const raw = await rawExchange(fx.front.port, 'GET / HTTP/9.9 nonsense\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await request(fx.front.port)).status).toBe(200);
  });

  it('answers a request repeating Host with 400 ERR_BAD_REQUEST', async () => {
    fx = await setup(['a']);
    const raw = await rawExchange(fx.front.port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(fx.backends[0]?.requests).toHaveLength(0);
  });

  it('answers a smuggling attempt (Content-Length with Transfer-Encoding) with 400', async () => {
    fx = await setup(['a']);
    const raw = await rawExchange(
      fx.front.port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(fx.backends[0]?.requests.map((r) => r.url) ?? []).not.toContain('/smuggled');
  });

  it('survives a client that disconnects mid-response', async () => {
    fx = await setup(['a']);
    await fx.backends[0]?.fail('hang');
    const raw = rawExchange(fx.front.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 30);
    await raw;
    await fx.backends[0]?.fail(null);
    expect((await request(fx.front.port)).status).toBe(200);
  });
});

function createGateHandler(gate: Promise<void>, arrived: () => void) {
  return (_req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    arrived();
    void gate.then(() => res.end('slow done'));
  };
}
