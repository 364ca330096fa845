import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2Server } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { createLoadBalancer, createRouter, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { testCertificate } from '../certs.js';
import { CLIENT_MESSAGE, failingBackend, HANDSHAKE_FAILURES } from '../conformance/failing-backend.js';
import { forwarderOptions } from '../conformance/forwarders.js';
import { type Listening, listen, until } from '../helpers.js';
import { closeSession, listenOn } from './client.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A masked text frame, as a WebSocket client sends it (RFC 6455 §5.2), payload under 126 bytes. */
function clientFrame(text: string, opcode = 0x1): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Reads the unmasked frames a server sends, payloads under 126 bytes. */
class FrameReader {
  readonly frames: Array<{ opcode: number; text: string }> = [];
  #buffered = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    while (this.#buffered.length >= 2) {
      const length = (this.#buffered[1] as number) & 0x7f;
      if (this.#buffered.length < 2 + length) return;
      const opcode = (this.#buffered[0] as number) & 0x0f;
      this.frames.push({ opcode, text: this.#buffered.subarray(2, 2 + length).toString() });
      this.#buffered = this.#buffered.subarray(2 + length);
    }
  }
  texts(): string[] {
    return this.frames.filter((f) => f.opcode === 0x1).map((f) => f.text);
  }
}

interface Seen {
  url: string | undefined;
  headers: IncomingHttpHeaders;
}

/** A `ws` echo server on a Node HTTP/1.1 server; greets each client and records every handshake. */
async function wsBackend(): Promise<
  Listening & { seen: Seen[]; sockets: WsSocket[]; raw: net.Socket[]; closed: number }
> {
  const seen: Seen[] = [];
  const sockets: WsSocket[] = [];
  const raw: net.Socket[] = [];
  const backend = await listen((_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok'));
  const wss = new WebSocketServer({
    server: backend.server,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  const result = Object.assign(backend, { seen, sockets, raw, closed: 0 });
  wss.on('connection', (ws, req) => {
    seen.push({ url: req.url, headers: req.headers });
    sockets.push(ws);
    raw.push(req.socket as net.Socket);
    ws.on('error', () => {});
    ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
    ws.on('close', () => {
      result.closed++;
    });
    ws.send('welcome');
  });
  cleanup.push(() => backend.close());
  cleanup.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  return result;
}

/** switchyard on a cleartext HTTP/2 server that advertises SETTINGS_ENABLE_CONNECT_PROTOCOL. */
async function front(options: LoadBalancerOptions): Promise<{ lb: LoadBalancer; server: Http2Server }> {
  const lb = createLoadBalancer({ ...forwarderOptions(), ...options });
  const server = http2.createServer({ settings: { enableConnectProtocol: true } }, lb.handler);
  server.on('connect', lb.connect);
  await listenOn(server);
  cleanup.push(() => lb.close());
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { lb, server };
}

/** A session that has the server's SETTINGS (extended CONNECT needs them first). */
async function session(server: Http2Server): Promise<ClientHttp2Session> {
  const port = (server.address() as AddressInfo).port;
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  cleanup.push(() => {
    s.destroy();
    return closeSession(s);
  });
  await new Promise<void>((resolve) => s.once('remoteSettings', () => resolve()));
  expect(s.remoteSettings.enableConnectProtocol).toBe(true);
  return s;
}

interface Opened {
  stream: ClientHttp2Stream;
  status: number;
  headers: http2.IncomingHttpHeaders;
  reader: FrameReader;
  body: () => string;
  ended: Promise<void>;
}

/** Opens a WebSocket with an extended CONNECT (RFC 8441 §4); resolves on the response headers. */
function openWebSocket(s: ClientHttp2Session, path = '/chat', extra: http2.OutgoingHttpHeaders = {}): Promise<Opened> {
  const stream = s.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': path,
    ':authority': 'chat.example',
    'sec-websocket-version': '13',
    'sec-websocket-protocol': 'chat, superchat',
    ...extra,
  });
  stream.on('error', () => {});
  const reader = new FrameReader();
  const raw: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => {
    raw.push(chunk);
    reader.push(chunk);
  });
  const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) =>
      resolve({
        stream,
        status: Number(headers[':status']),
        headers,
        reader,
        body: () => Buffer.concat(raw).toString(),
        ended,
      }),
    );
    stream.once('close', () => reject(new Error(`stream closed before a response (rst ${stream.rstCode})`)));
  });
}

/** A raw HTTP/1.1 backend whose `'upgrade'` handler writes `answer` for each handshake. */
async function rawUpgradeBackend(answer: (key: string) => string): Promise<Listening & { handshakes: number }> {
  const backend = await listen((_req, res) => res.end());
  const result = Object.assign(backend, { handshakes: 0 });
  backend.server.on('upgrade', (req, socket) => {
    result.handshakes++;
    socket.on('error', () => {});
    socket.end(answer(String(req.headers['sec-websocket-key'])));
  });
  cleanup.push(() => backend.close());
  return result;
}

describe('WebSockets over HTTP/2 (RFC 8441 extended CONNECT)', () => {
  it('opens an HTTP/1.1 WebSocket upgrade to the backend and echoes messages both ways', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url, id: 'ws' }] });
    const upgrades: unknown[] = [];
    lb.on('upgrade', (e) => upgrades.push(e));
    const s = await session(server);
    const ws = await openWebSocket(s, '/chat?room=1', { 'sec-websocket-key': 'ignored', 'x-client': 'yes' });
    expect(ws.status).toBe(200);
    expect(ws.headers['sec-websocket-protocol']).toBe('chat');
    expect(ws.headers['sec-websocket-accept']).toBeUndefined();
    expect(ws.headers.upgrade).toBeUndefined();
    await until(() => ws.reader.texts().length === 1);
    expect(ws.reader.texts()).toEqual(['welcome']);

    ws.stream.write(clientFrame('ping one'));
    ws.stream.write(clientFrame('ping two'));
    await until(() => ws.reader.texts().length === 3);
    expect(ws.reader.texts()).toEqual(['welcome', 'echo:ping one', 'echo:ping two']);

    const handshake = backend.seen[0] as Seen;
    expect(handshake.url).toBe('/chat?room=1');
    expect(handshake.headers.upgrade).toBe('websocket');
    expect(handshake.headers.connection).toMatch(/upgrade/i);
    expect(handshake.headers['sec-websocket-version']).toBe('13');
    expect(handshake.headers['sec-websocket-protocol']).toBe('chat, superchat');
    // A fresh key of 16 random bytes, never the client's (RFC 8441 §5 has none).
    const key = String(handshake.headers['sec-websocket-key']);
    expect(key).not.toBe('ignored');
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(handshake.headers.host).toBe('chat.example');
    expect(handshake.headers['x-client']).toBe('yes');
    expect(handshake.headers['x-forwarded-proto']).toBe('http');
    expect(handshake.headers.via).toBe('2 switchyard');
    expect(lb.backends()[0]?.active).toBe(1);

    // A close frame, answered by the backend's close, then the client ends its side.
    ws.stream.write(clientFrame('', 0x8));
    await until(() => ws.reader.frames.some((f) => f.opcode === 0x8));
    ws.stream.end();
    await ws.ended;
    await until(() => backend.closed === 1 && lb.backends()[0]?.active === 0);
    expect(ws.stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await until(() => upgrades.length === 1);
    expect(upgrades).toEqual([{ backend: 'ws', ok: true }]);
  });

  it('counts the WebSocket in switchyard_upgrades_total like an HTTP/1.1 upgrade', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url, id: 'ws' }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    ws.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => lb.backends()[0]?.active === 0);
    const text = await lb.metricsRegistry?.metrics();
    expect(text).toMatch(/switchyard_upgrades_total\{[^}]*backend="ws"[^}]*result="ok"[^}]*\} 1/);
  });

  it('closes the backend socket when the client resets the stream mid-conversation', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    ws.stream.write(clientFrame('hello'));
    await until(() => ws.reader.texts().length === 2);
    ws.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => backend.closed === 1);
    await until(() => lb.backends()[0]?.active === 0);
    // The session lives on: another WebSocket opens on it.
    const again = await openWebSocket(s);
    expect(again.status).toBe(200);
    await until(() => again.reader.texts().length === 1);
  });

  it('ends the stream when the backend closes the WebSocket', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    await until(() => backend.sockets.length === 1);
    backend.sockets[0]?.close(1000, 'bye');
    await until(() => ws.reader.frames.some((f) => f.opcode === 0x8));
    // The client answers the close frame; the backend then closes its TCP connection.
    ws.stream.write(clientFrame('', 0x8));
    await ws.ended;
    await until(() => backend.closed === 1);
    expect(ws.stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await until(() => lb.backends()[0]?.active === 0);
  });

  it('resets the stream when the backend connection breaks off', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url, id: 'ws' }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    const upgrades: unknown[] = [];
    lb.on('upgrade', (e) => upgrades.push(e));
    await until(() => backend.raw.length === 1);
    backend.raw[0]?.resetAndDestroy();
    await ws.ended;
    expect(ws.stream.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await until(() => lb.backends()[0]?.active === 0 && upgrades.length === 1);
    expect(upgrades).toEqual([{ backend: 'ws', ok: false, error: 'ERR_UPSTREAM_RESET' }]);
    // The session is untouched: another WebSocket opens on it.
    const again = await openWebSocket(s);
    expect(again.status).toBe(200);
  });

  it('relays a backend that refuses the handshake (403) as an ordinary HTTP/2 response', async () => {
    const backend = await rawUpgradeBackend(
      () =>
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 6\r\n\r\nno way',
    );
    const { lb, server } = await front({ backends: [{ url: backend.url, id: 'b' }] });
    const upgrades: unknown[] = [];
    lb.on('upgrade', (e) => upgrades.push(e));
    const s = await session(server);
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(403);
    expect(ws.headers['content-type']).toBe('text/plain');
    expect(ws.headers.connection).toBeUndefined();
    await ws.ended;
    expect(ws.body()).toBe('no way');
    await until(() => upgrades.length === 1 && lb.backends()[0]?.active === 0);
    expect(upgrades).toEqual([{ backend: 'b', ok: true }]);
  });

  it('refuses a 101 whose Sec-WebSocket-Accept does not prove the key with 502 ERR_UPSTREAM_PROTOCOL', async () => {
    const backend = await rawUpgradeBackend(
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n',
    );
    const { lb, server } = await front({ backends: [{ url: backend.url, id: 'b' }] });
    const upgrades: unknown[] = [];
    lb.on('upgrade', (e) => upgrades.push(e));
    const s = await session(server);
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(502);
    await ws.ended;
    expect(JSON.parse(ws.body())).toMatchObject({ error: { code: 'ERR_UPSTREAM_PROTOCOL' } });
    await until(() => upgrades.length === 1);
    expect(upgrades).toEqual([{ backend: 'b', ok: false, error: 'ERR_UPSTREAM_PROTOCOL' }]);
    expect(lb.backends()[0]?.active).toBe(0);
  });

  it('accepts a 101 whose Sec-WebSocket-Accept proves the fresh key', async () => {
    const backend = await rawUpgradeBackend(
      (key) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${createHash(
          'sha1',
        )
          .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
          .digest('base64')}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\nbytes after the head`,
    );
    const { server } = await front({ backends: [{ url: backend.url }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(200);
    expect(ws.headers['sec-websocket-extensions']).toBe('permessage-deflate');
    await ws.ended;
    expect(ws.body()).toBe('bytes after the head');
  });

  it('answers 502 ERR_UPSTREAM_CONNECT when the backend cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const { server } = await front({ backends: [{ url: `http://127.0.0.1:${closedPort}` }] });
    const s = await session(server);
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(502);
    await ws.ended;
    expect(JSON.parse(ws.body())).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
  });

  it.each(HANDSHAKE_FAILURES)(
    'answers $status $code, in the response and the upgrade event, when the backend $what',
    async ({ kind, status, code }) => {
      const backend = await failingBackend(kind);
      cleanup.push(() => backend.close());
      const { lb, server } = await front({
        backends: [{ id: 'b', url: backend.url }],
        timeouts: kind === 'silent' ? { connect: 20, response: 30 } : { connect: 1000, response: 5000 },
      });
      const upgrades: unknown[] = [];
      lb.on('upgrade', (e) => upgrades.push(e));
      const s = await session(server);
      const ws = await openWebSocket(s);
      expect(ws.status).toBe(status);
      expect(ws.headers['content-type']).toBe('application/json');
      await ws.ended;
      // The code and a fixed sentence: no backend address, port or internal cause.
      expect(JSON.parse(ws.body())).toEqual({ error: { code, message: CLIENT_MESSAGE[code] } });
      expect(ws.body()).not.toContain(String(backend.port));
      await until(() => upgrades.length === 1 && lb.backends()[0]?.active === 0);
      expect(upgrades).toEqual([{ backend: 'b', ok: false, error: code }]);
      expect(lb.backends()[0]?.failures).toBe(1);
    },
  );

  it('reports a client that cancels the stream before the handshake is answered as its abort, not a tunnel or a backend failure', async () => {
    const backend = await listen((_req, res) => res.end());
    let handshakes = 0;
    const held: Duplex[] = [];
    backend.server.on('upgrade', (_req, socket: Duplex) => {
      handshakes++;
      socket.on('error', () => {});
      held.push(socket); // never answered
    });
    cleanup.push(async () => {
      for (const socket of held) socket.destroy();
      await backend.close();
    });
    const { lb, server } = await front({ backends: [{ id: 'b', url: backend.url }] });
    const upgrades: unknown[] = [];
    lb.on('upgrade', (e) => upgrades.push(e));
    const s = await session(server);
    const stream = s.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'http',
      ':path': '/chat',
      ':authority': 'chat.example',
      'sec-websocket-version': '13',
    });
    stream.on('error', () => {});
    await until(() => handshakes === 1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => upgrades.length === 1 && lb.backends()[0]?.active === 0);
    expect(upgrades).toEqual([{ backend: 'b', ok: false, error: 'ERR_CLIENT_ABORTED' }]);
    expect(lb.backends()[0]).toMatchObject({ failures: 0 });
  });

  it('counts the WebSocket against the rate limit: one over it gets 429 with Retry-After', async () => {
    const backend = await wsBackend();
    const { server } = await front({
      backends: [{ url: backend.url }],
      rateLimit: { points: 1, duration: '1m' },
    });
    const s = await session(server);
    const first = await openWebSocket(s);
    expect(first.status).toBe(200);
    const second = await openWebSocket(s);
    expect(second.status).toBe(429);
    expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
    await second.ended;
    expect(JSON.parse(second.body())).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
    expect(backend.seen).toHaveLength(1);
  });

  it('keeps a sticky session: the WebSocket goes to the backend the cookie names', async () => {
    const a = await wsBackend();
    const b = await wsBackend();
    const { lb, server } = await front({
      backends: [
        { url: a.url, id: 'a' },
        { url: b.url, id: 'b' },
      ],
      sticky: { mode: 'cookie', secret: 'k'.repeat(32) },
    });
    const s = await session(server);
    const cookie = await new Promise<string>((resolve, reject) => {
      const stream = s.request({ ':path': '/' });
      stream.on('error', reject);
      stream.once('response', (headers) => {
        const value = String(headers['set-cookie']).split(';')[0] as string;
        stream.resume();
        stream.once('end', () => resolve(value));
      });
      stream.end();
    });
    expect(cookie).toMatch(/^switchyard_sticky=/);
    const chosen = lb.backends().find((x) => x.requests > 0)?.id;
    expect(chosen).toMatch(/^[ab]$/);
    for (let i = 0; i < 4; i++) {
      const ws = await openWebSocket(s, '/', { cookie });
      expect(ws.status).toBe(200);
      ws.stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    expect((chosen === 'a' ? a : b).seen).toHaveLength(4);
    expect((chosen === 'a' ? b : a).seen).toHaveLength(0);
  });

  it.each([
    ['without :protocol', { ':method': 'CONNECT', ':authority': 'chat.example:443' }],
    [
      'with another protocol',
      {
        ':method': 'CONNECT',
        ':protocol': 'connect-udp',
        ':scheme': 'http',
        ':path': '/.well-known/masque/udp/10.0.0.1/53/',
        ':authority': 'chat.example',
      },
    ],
  ])('answers a CONNECT %s with 501 ERR_NOT_IMPLEMENTED and forwards nothing', async (_name, headers) => {
    const backend = await rawUpgradeBackend(() => 'HTTP/1.1 500 Unexpected\r\nContent-Length: 0\r\n\r\n');
    let requests = 0;
    backend.server.on('request', () => requests++);
    backend.server.on('connect', (_req, socket: net.Socket) => {
      requests++;
      socket.destroy();
    });
    const { server } = await front({ backends: [{ url: backend.url }] });
    const s = await session(server);
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = s.request(headers);
      const chunks: Buffer[] = [];
      let status = 0;
      stream.on('error', reject);
      stream.once('response', (h) => {
        status = Number(h[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      stream.end();
    });
    expect(reply.status).toBe(501);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: 'ERR_NOT_IMPLEMENTED' } });
    expect(backend.handshakes + requests).toBe(0);
  });

  it('refuses an HTTP/1.1 CONNECT on an allowHTTP1 server with 501, on the raw socket', async () => {
    const lb = createLoadBalancer({ ...forwarderOptions(), backends: [{ url: 'http://127.0.0.1:9' }] });
    cleanup.push(() => lb.close());
    const { key, cert } = testCertificate();
    const server = http2.createSecureServer(
      { key, cert, allowHTTP1: true, settings: { enableConnectProtocol: true } },
      lb.handler,
    );
    // The HTTP/1.1 side of the server emits the same 'connect' event, with (req, socket, head).
    server.on('connect', lb.connect);
    await listenOn(server);
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        {
          port: (server.address() as AddressInfo).port,
          host: '127.0.0.1',
          ca: cert,
          servername: 'localhost',
          ALPNProtocols: ['http/1.1'],
        },
        () => socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
      );
      let text = '';
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 501 /);
    expect(answer).toMatch(/ERR_NOT_IMPLEMENTED/);
  });

  it('serves an extended CONNECT that reaches lb.handler (a connect listener set to it) like lb.connect', async () => {
    const backend = await wsBackend();
    const lb = createLoadBalancer({ ...forwarderOptions(), backends: [{ url: backend.url }] });
    const server = http2.createServer({ settings: { enableConnectProtocol: true } }, lb.handler);
    server.on('connect', lb.handler);
    await listenOn(server);
    cleanup.push(() => lb.close());
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const s = await session(server);
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(200);
    ws.stream.write(clientFrame('via handler'));
    await until(() => ws.reader.texts().length === 2);
    expect(ws.reader.texts()).toEqual(['welcome', 'echo:via handler']);
  });

  it('routes a WebSocket through router.connect by :authority and path, as a GET, rewriting the path', async () => {
    const chat = await wsBackend();
    const other = await wsBackend();
    const router = createRouter({
      pools: {
        chat: { ...forwarderOptions(), backends: [{ url: chat.url }] },
        other: { backends: [{ url: other.url }] },
      },
      routes: [
        { host: 'chat.example', prefix: '/ws', methods: ['GET'], rewrite: { stripPrefix: true }, pool: 'chat' },
        { host: 'other.example', pool: 'other' },
      ],
    });
    const server = http2.createServer({ settings: { enableConnectProtocol: true } }, router.handler);
    server.on('connect', router.connect);
    await listenOn(server);
    cleanup.push(() => router.close());
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const s = await session(server);
    const ws = await openWebSocket(s, '/ws/room');
    expect(ws.status).toBe(200);
    ws.stream.write(clientFrame('routed'));
    await until(() => ws.reader.texts().length === 2);
    expect(ws.reader.texts()).toEqual(['welcome', 'echo:routed']);
    expect(chat.seen.map((h) => h.url)).toEqual(['/room']);
    expect(other.seen).toHaveLength(0);
    const unrouted = await openWebSocket(s, '/ws/room', { ':authority': 'nowhere.example' });
    expect(unrouted.status).toBe(404);
    await unrouted.ended;
    expect(JSON.parse(unrouted.body())).toMatchObject({ error: { code: 'ERR_NO_ROUTE' } });
  });

  it('answers 503 ERR_CLOSED once the balancer is closing', async () => {
    const backend = await wsBackend();
    const { lb, server } = await front({ backends: [{ url: backend.url }] });
    const s = await session(server);
    await lb.close();
    const ws = await openWebSocket(s);
    expect(ws.status).toBe(503);
    await ws.ended;
    expect(JSON.parse(ws.body())).toMatchObject({ error: { code: 'ERR_CLOSED' } });
    expect(backend.seen).toHaveLength(0);
  });
});
