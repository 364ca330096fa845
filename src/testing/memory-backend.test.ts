import { once } from 'node:events';
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ConfigError } from '../core/errors.js';
import { createMemoryBackend, type MemoryBackend } from './index.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

interface SendOptions extends http.RequestOptions {
  body?: string;
}

/** One request; resolves with the whole response, rejects with the client's error. */
function send(url: string, { body, ...options }: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const backends: MemoryBackend[] = [];
const agents: http.Agent[] = [];

function backend(options: Parameters<typeof createMemoryBackend>[0]): MemoryBackend {
  const created = createMemoryBackend(options);
  backends.push(created);
  return created;
}

function agentOf(target: MemoryBackend, options?: http.AgentOptions): http.Agent {
  const agent = target.agent(options);
  agents.push(agent);
  return agent;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

describe('createMemoryBackend', () => {
  it('derives a synthetic URL and a balancer config from the id', () => {
    const a = backend({ id: 'a' });
    const odd = backend({ id: 'Payments API_v2!' });

    expect(a.id).toBe('a');
    expect(a.url).toBe('http://a.memory.switchyard:80');
    expect(odd.url).toBe('http://payments-api-v2.memory.switchyard:80');
    expect(a.config).toEqual({ id: 'a', url: a.url, createConnection: a.createConnection });
    expect(a.server).toBeInstanceOf(http.Server);
    expect(a.server.listening).toBe(false);
  });

  it('rejects an empty id', () => {
    expect(() => createMemoryBackend({ id: '' })).toThrow(ConfigError);
  });

  it('answers with JSON naming the backend, method and url by default', async () => {
    const a = backend({ id: 'a' });

    const reply = await send(`${a.url}/users?page=2`, { agent: agentOf(a) });

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body)).toEqual({ backend: 'a', method: 'GET', url: '/users?page=2' });
  });

  it('answers with the custom handler', async () => {
    const b = backend({
      id: 'b',
      handler: (req, res) => {
        res.setHeader('x-backend', 'b');
        res.end(`hi ${req.method}`);
      },
    });

    const reply = await send(`${b.url}/`, { method: 'DELETE', agent: agentOf(b) });

    expect(reply).toMatchObject({ status: 200, body: 'hi DELETE' });
    expect(reply.headers['x-backend']).toBe('b');
  });

  it('answers 500 when the handler throws or rejects', async () => {
    const thrower = backend({
      id: 't',
      handler: () => {
        throw new Error('boom');
      },
    });
    const rejecter = backend({ id: 'r', handler: () => Promise.reject(new Error('later boom')) });

    const thrown = await send(thrower.url, { agent: agentOf(thrower) });
    const rejected = await send(rejecter.url, { agent: agentOf(rejecter) });

    expect(thrown).toMatchObject({ status: 500, body: '{"error":"boom"}' });
    expect(rejected).toMatchObject({ status: 500, body: '{"error":"later boom"}' });
  });

  it('opens a connection that speaks HTTP through createConnection', async () => {
    const a = backend({ id: 'a' });
    const socket = a.createConnection();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));

    socket.end('GET /raw HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await once(socket, 'close');

    const text = Buffer.concat(chunks).toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain('{"backend":"a","method":"GET","url":"/raw"}');
    expect(a.connections).toBe(1);
  });

  it('serves http.request given createConnection without an agent', async () => {
    const a = backend({ id: 'a' });

    const reply = await send(`${a.url}/no-agent`, { createConnection: a.createConnection });

    expect(JSON.parse(reply.body)).toMatchObject({ url: '/no-agent' });
  });
});

describe('upgrades', () => {
  it("hands a WebSocket upgrade to the server's upgrade listener", async () => {
    const a = backend({ id: 'a' });
    const wss = new WebSocketServer({ noServer: true });
    a.server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo:${String(data)}`)));
    });
    const ws = new WebSocket(`${a.url.replace('http:', 'ws:')}/chat`, { agent: agentOf(a) });
    await once(ws, 'open');

    ws.send('hi');
    const [reply] = await once(ws, 'message');
    ws.close();
    await once(ws, 'close');
    wss.close();

    expect(String(reply)).toBe('echo:hi');
    expect(a.connections).toBe(1);
  });
});

describe('the request record', () => {
  it('records method, url, version, headers and arrival', async () => {
    const a = backend({ id: 'a' });
    const before = Date.now();

    await send(`${a.url}/items?x=1`, {
      method: 'PUT',
      headers: { 'X-Dup': ['one', 'two'], 'X-Single': 'yes' },
      body: 'payload',
      agent: agentOf(a),
    });

    expect(a.requests).toHaveLength(1);
    const [recorded] = a.requests;
    expect(recorded).toMatchObject({ method: 'PUT', url: '/items?x=1', httpVersion: '1.1', connectionId: 1 });
    expect(recorded?.headers['x-single']).toBe('yes');
    expect(recorded?.headers['x-dup']).toBe('one, two');
    expect(recorded?.rawHeaders).toEqual(expect.arrayContaining(['X-Dup', 'one']));
    const rawHeaders = recorded?.rawHeaders ?? [];
    const dupValues = rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1] === 'X-Dup');
    expect(dupValues).toEqual(['one', 'two']);
    expect(recorded?.receivedAt).toBeGreaterThanOrEqual(before);
    expect(recorded?.receivedAt).toBeLessThanOrEqual(Date.now());
  });

  it('records the full body of a content-length POST', async () => {
    const a = backend({ id: 'a' });
    const body = 'x'.repeat(100_000);

    await send(a.url, { method: 'POST', headers: { 'content-length': body.length }, body, agent: agentOf(a) });

    expect(a.requests[0]?.headers['content-length']).toBe('100000');
    expect(a.requests[0]?.body.toString()).toBe(body);
  });

  it('records the full body and trailers of a chunked POST', async () => {
    const a = backend({ id: 'a' });
    const req = http.request(a.url, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked', trailer: 'x-checksum' },
      agent: agentOf(a),
    });
    const response = once(req, 'response');
    req.write('first,');
    await once(a.server, 'request');
    req.write('second,');
    req.addTrailers({ 'x-checksum': '42' });
    req.end('third');
    const [res] = (await response) as [http.IncomingMessage];
    res.resume();

    const [recorded] = a.requests;
    expect(recorded?.headers['transfer-encoding']).toBe('chunked');
    expect(recorded?.body.toString()).toBe('first,second,third');
    expect(recorded?.trailers).toEqual({ 'x-checksum': '42' });
  });

  it('records the whole body even when the handler answers without reading it', async () => {
    const a = backend({ id: 'a', handler: (_req, res) => res.end('early') });
    const req = http.request(a.url, { method: 'POST', agent: agentOf(a) });
    const response = once(req, 'response');
    const arrived = once(a.server, 'request');
    req.write('before the answer;');
    const [res] = (await response) as [http.IncomingMessage];
    res.resume();
    const [serverReq] = (await arrived) as [http.IncomingMessage];

    req.end('after the answer');
    await once(serverReq, 'end');

    expect(a.requests[0]?.body.toString()).toBe('before the answer;after the answer');
  });

  it('leaves the whole body to a handler that reads it later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = backend({
      id: 'a',
      handler: async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        res.end(`echo:${Buffer.concat(chunks).toString()}`);
      },
    });
    a.setLatency(50);
    const reply = send(a.url, { method: 'POST', body: 'read me late', agent: agentOf(a) });

    await once(a.server, 'request');
    vi.advanceTimersByTime(50);

    await expect(reply).resolves.toMatchObject({ body: 'echo:read me late' });
    expect(a.requests[0]?.body.toString()).toBe('read me late');
  });

  it('records what a handler reads with setEncoding as the bytes that were sent', async () => {
    const a = backend({
      id: 'a',
      handler: (req, res) => {
        req.setEncoding('utf8');
        let text = '';
        req.on('data', (chunk: string) => {
          text += chunk;
        });
        req.on('end', () => res.end(text));
      },
    });

    const reply = await send(a.url, { method: 'POST', body: 'héllo wörld', agent: agentOf(a) });

    expect(reply.body).toBe('héllo wörld');
    expect(a.requests[0]?.body.toString()).toBe('héllo wörld');
  });

  it('returns a snapshot that clearRequests empties for later reads', async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);
    await send(`${a.url}/1`, { agent });
    const snapshot = a.requests;

    a.clearRequests();
    await send(`${a.url}/2`, { agent });

    expect(snapshot.map((r) => r.url)).toEqual(['/1']);
    expect(a.requests.map((r) => r.url)).toEqual(['/2']);
  });
});

describe('connections', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);

    const first = await send(`${a.url}/1`, { agent });
    const second = await send(`${a.url}/2`, { agent });
    const third = await send(`${a.url}/3`, { agent });

    expect([first.reusedSocket, second.reusedSocket, third.reusedSocket]).toEqual([false, true, true]);
    expect(a.connections).toBe(1);
    expect(a.openConnections).toBe(1);
    expect(a.requests.map((r) => r.connectionId)).toEqual([1, 1, 1]);
  });

  it('opens a connection per concurrent request', async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);

    await Promise.all([send(a.url, { agent }), send(a.url, { agent }), send(a.url, { agent })]);

    expect(a.connections).toBe(3);
    expect(new Set(a.requests.map((r) => r.connectionId))).toEqual(new Set([1, 2, 3]));
  });

  it('closes an idle keep-alive connection when its idle timeout expires', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = backend({ id: 'a' });
    a.server.keepAliveTimeout = 3000;
    const agent = agentOf(a);
    await send(a.url, { agent });
    const [clientSocket] = agentSockets(agent);
    expect(clientSocket).toBeDefined();
    const closed = once(clientSocket!, 'close');

    vi.advanceTimersByTime(5000);
    await closed;

    expect(a.openConnections).toBe(0);
    await expect(send(a.url, { agent })).resolves.toMatchObject({ status: 200, reusedSocket: false });
  });
});

/** The client ends an agent holds, busy or free. */
function agentSockets(agent: http.Agent): NodeJS.EventEmitter[] {
  return [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].flatMap((sockets) => sockets ?? []);
}

describe('switches', () => {
  it('answers with the configured status', async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);

    a.setStatus(503);
    const failed = await send(a.url, { agent });
    a.setStatus(null);
    const restored = await send(a.url, { agent });

    expect(failed.status).toBe(503);
    expect(JSON.parse(failed.body)).toEqual({ backend: 'a', status: 503 });
    expect(restored.status).toBe(200);
  });

  it('answers a bodiless status without a body', async () => {
    const a = backend({ id: 'a' });
    a.setStatus(204);

    await expect(send(a.url, { agent: agentOf(a) })).resolves.toMatchObject({ status: 204, body: '' });
  });

  it('rejects a status that is not an HTTP final status', () => {
    const a = backend({ id: 'a' });

    expect(() => a.setStatus(42)).toThrow(ConfigError);
    expect(() => a.setStatus(101)).toThrow(ConfigError);
  });

  it('delays the handler by the latency', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const handler = vi.fn((_req: http.IncomingMessage, res: http.ServerResponse) => res.end('late'));
    const a = backend({ id: 'a', handler });
    a.setLatency('100ms');
    const reply = send(a.url, { agent: agentOf(a) });
    await once(a.server, 'request');

    vi.advanceTimersByTime(99);
    expect(handler).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(handler).toHaveBeenCalledOnce();

    await expect(reply).resolves.toMatchObject({ body: 'late' });
  });

  it('applies a switch only to requests that arrive after it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = backend({ id: 'a' });
    a.setLatency(100);
    const slow = send(a.url, { agent: agentOf(a) });
    await once(a.server, 'request');

    a.setStatus(503);
    a.setLatency(0);
    vi.advanceTimersByTime(100);

    await expect(slow).resolves.toMatchObject({ status: 200 });
    await expect(send(a.url, { agent: agentOf(a) })).resolves.toMatchObject({ status: 503 });
  });

  it('rejects a negative latency and an unknown fail mode', () => {
    const a = backend({ id: 'a' });

    expect(() => a.setLatency(-1)).toThrow(ConfigError);
    expect(() => a.fail('explode' as never)).toThrow(ConfigError);
  });

  it('turns every switch off and forgets the record on reset', async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);
    await send(a.url, { agent });
    a.setStatus(500);
    a.setLatency(10_000);
    await a.fail('refuse');

    await a.reset();

    expect(a.requests).toEqual([]);
    expect(a.connections).toBe(0);
    await expect(send(a.url, { agent: agentOf(a) })).resolves.toMatchObject({ status: 200 });
  });
});

describe('fail modes', () => {
  it("resets the connection after reading the request in 'reset' mode", async () => {
    const a = backend({ id: 'a' });
    await a.fail('reset');

    await expect(send(a.url, { method: 'POST', body: 'data', agent: agentOf(a) })).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(a.requests[0]?.body.toString()).toBe('data');
  });

  it("refuses new connections with ECONNREFUSED in 'refuse' mode", async () => {
    const a = backend({ id: 'a' });
    await a.fail('refuse');

    await expect(send(a.url, { agent: agentOf(a) })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    expect(a.connections).toBe(0);
    expect(a.requests).toEqual([]);
  });

  it("keeps serving already open connections in 'refuse' mode", async () => {
    const a = backend({ id: 'a' });
    const agent = agentOf(a);
    await send(a.url, { agent });

    await a.fail('refuse');

    await expect(send(a.url, { agent })).resolves.toMatchObject({ status: 200, reusedSocket: true });
  });

  it("never answers in 'hang' mode, until the client's own timeout", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = backend({ id: 'a' });
    await a.fail('hang');
    const req = http.request(a.url, { agent: agentOf(a), timeout: 50 });
    const responded = vi.fn();
    req.on('response', responded);
    req.on('timeout', () => req.destroy(new Error('client gave up')));
    const failed = once(req, 'error');
    req.end();
    await once(a.server, 'request');

    vi.advanceTimersByTime(50);
    const [error] = (await failed) as [Error];

    expect(error.message).toBe('client gave up');
    expect(responded).not.toHaveBeenCalled();
    expect(a.requests).toHaveLength(1);
  });

  it("answers bytes that are not HTTP in 'garbage' mode", async () => {
    const a = backend({ id: 'a' });
    await a.fail('garbage');

    const error = await send(a.url, { agent: agentOf(a) }).catch((e: NodeJS.ErrnoException) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as NodeJS.ErrnoException).code).toMatch(/^HPE_/);
  });

  it("sends headers and part of the body, then closes, in 'close-mid-body' mode", async () => {
    const a = backend({ id: 'a' });
    await a.fail('close-mid-body');
    const req = http.get(a.url, { agent: agentOf(a) });
    const outcome = new Promise<{ status: number; received: number; error: NodeJS.ErrnoException }>((resolve) => {
      req.on('response', (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        res.on('error', (error) => resolve({ status: res.statusCode ?? 0, received, error }));
      });
    });

    const { status, received, error } = await outcome;

    expect(status).toBe(200);
    expect(received).toBe(10);
    expect(error).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });
  });

  it('serves normally again after fail(null)', async () => {
    const a = backend({ id: 'a' });
    await a.fail('reset');
    await expect(send(a.url, { agent: agentOf(a) })).rejects.toThrow();

    await a.fail(null);

    await expect(send(a.url, { agent: agentOf(a) })).resolves.toMatchObject({ status: 200 });
  });
});

describe('down and up', () => {
  it('drops open connections and refuses new ones while down, then serves again when up', async () => {
    const a = backend({ id: 'a' });
    const pooled = agentOf(a);
    await send(a.url, { agent: pooled });
    await a.fail('hang');
    const inFlight = send(a.url, { agent: agentOf(a) });
    await once(a.server, 'request');
    expect(a.openConnections).toBe(2);

    await a.down();

    await expect(inFlight).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(a.openConnections).toBe(0);
    await expect(send(a.url, { agent: pooled })).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await a.fail(null);
    await a.up();

    await expect(send(a.url, { agent: pooled })).resolves.toMatchObject({ status: 200, reusedSocket: false });
  });

  it('cancels handlers still waiting out their latency', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const handler = vi.fn((_req: http.IncomingMessage, res: http.ServerResponse) => res.end());
    const a = backend({ id: 'a', handler });
    a.setLatency(100);
    const reply = send(a.url, { agent: agentOf(a) });
    await once(a.server, 'request');

    await a.down();
    vi.advanceTimersByTime(100);

    await expect(reply).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('close', () => {
  it('leaves no open handles, connections or timers behind', async () => {
    const baseline = process.getActiveResourcesInfo().sort();
    const a = createMemoryBackend({ id: 'a' });
    const agent = a.agent();
    await Promise.all([send(a.url, { agent }), send(a.url, { agent })]);
    a.setLatency(10_000);
    const pending = send(a.url, { agent });
    await once(a.server, 'request');
    const clientSockets = agentSockets(agent);
    const clientsClosed = clientSockets.map((socket) => once(socket, 'close'));

    await a.close();

    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    await Promise.all(clientsClosed);
    expect(a.openConnections).toBe(0);
    expect(process.getActiveResourcesInfo().sort()).toEqual(baseline);
  });

  it('refuses connections once closed', async () => {
    const a = createMemoryBackend({ id: 'a' });
    await a.close();

    await expect(send(a.url, { agent: a.agent() })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('through http-proxy-3', () => {
  function proxyFront(target: MemoryBackend) {
    const proxy = createProxyServer({ target: target.url, agent: agentOf(target), xfwd: true });
    proxy.on('error', (error: NodeJS.ErrnoException, _req, res) => {
      if (res instanceof http.ServerResponse && !res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error.code));
      }
    });
    return backend({ id: 'front', handler: (req, res) => proxy.web(req, res) });
  }

  it('proxies a request and its body to the backend and the answer back', async () => {
    const a = backend({ id: 'a', handler: (req, res) => req.pipe(res) });
    const front = proxyFront(a);
    const agent = agentOf(front);

    const reply = await send(`${front.url}/echo`, { method: 'POST', body: 'round trip', agent });
    const again = await send(`${front.url}/echo`, { method: 'POST', body: 'second', agent });

    expect(reply).toMatchObject({ status: 200, body: 'round trip' });
    expect(again.body).toBe('second');
    expect(a.requests.map((r) => r.body.toString())).toEqual(['round trip', 'second']);
    expect(a.requests[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(a.connections).toBe(1);
  });

  it('reports a reset backend as a proxy error', async () => {
    const a = backend({ id: 'a' });
    const front = proxyFront(a);
    await a.fail('reset');

    await expect(send(front.url, { agent: agentOf(front) })).resolves.toMatchObject({
      status: 502,
      body: 'ECONNRESET',
    });
  });

  it('reports a refusing backend as a proxy error', async () => {
    const a = backend({ id: 'a' });
    const front = proxyFront(a);
    await a.down();

    await expect(send(front.url, { agent: agentOf(front) })).resolves.toMatchObject({
      status: 502,
      body: 'ECONNREFUSED',
    });
  });
});
