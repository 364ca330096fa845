import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { type CliIo, type RunningProxy, runCli } from '../src/cli/main.js';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';
import { type CertKit, certKit, type Pem } from './certs.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-cli-h2-'));
let kit: CertKit;
let cert: Pem;
beforeAll(() => {
  kit = certKit();
  cert = kit.server('proxy', ['localhost']);
});
afterAll(() => {
  kit.remove();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function file(text: string): string {
  const name = path.join(dir, `config-${++n}.yaml`);
  writeFileSync(name, text);
  return name;
}

function io(): CliIo & { err: () => string } {
  let err = '';
  return {
    stdout: { write: () => true },
    stderr: { write: (t: string) => (err += t) },
    env: {},
    err: () => err,
  };
}

interface Reply {
  status: number;
  body: string;
  version: string;
}

function h2get(url: string, pathname: string, options: http2.SecureClientSessionOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, options);
    session.on('error', reject);
    const stream = session.request({ ':path': pathname });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => {
      session.close();
      resolve({ status, body, version: '2.0' });
    });
    stream.on('error', reject);
  });
}

function h1get(port: number, pathname: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', servername: 'localhost', port, path: pathname, ca: kit.ca.cert, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, version: res.httpVersion }));
      },
    );
    req.on('error', reject);
  });
}

/** A `ws` echo server named `name`: greets each client with `<name>:welcome`, echoes as `<name>:<text>`, records each handshake's URL. */
async function wsEcho(name: string): Promise<{ url: string; urls: string[]; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server });
  const urls: string[] = [];
  wss.on('connection', (ws, req) => {
    urls.push(req.url ?? '');
    ws.on('error', () => {});
    ws.on('message', (data) => ws.send(`${name}:${data.toString()}`));
    ws.send(`${name}:welcome`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    urls,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A masked text frame, as a WebSocket client sends it (RFC 6455 §5.2), payload under 126 bytes. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** The texts of the unmasked frames (payloads under 126 bytes) in `data`. */
function serverTexts(data: Buffer): string[] {
  const texts: string[] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    const length = (data[at + 1] as number) & 0x7f;
    if (at + 2 + length > data.length) break;
    texts.push(data.subarray(at + 2, at + 2 + length).toString());
    at += 2 + length;
  }
  return texts;
}

/**
 * Opens a WebSocket with an extended CONNECT (RFC 8441 §4) on a session to
 * `url`, sends `hello`, and resolves with the status and the texts read
 * once two frames (the greeting and the echo) arrived.
 */
async function websocketOverH2(
  url: string,
  path: string,
  authority: string,
  options: http2.SecureClientSessionOptions = {},
): Promise<{ status: number; texts: string[]; connectProtocol: boolean | undefined }> {
  const session = http2.connect(url, options);
  session.on('error', () => {});
  try {
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    const connectProtocol = session.remoteSettings.enableConnectProtocol;
    const stream = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': url.startsWith('https') ? 'https' : 'http',
      ':path': path,
      ':authority': authority,
      'sec-websocket-version': '13',
    });
    stream.on('error', () => {});
    return await new Promise((resolve, reject) => {
      let status = 0;
      let data = Buffer.alloc(0);
      stream.once('response', (headers) => {
        status = Number(headers[':status']);
        if (status === 200) stream.write(clientFrame('hello'));
      });
      stream.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const texts = serverTexts(data);
        if (status === 200 && texts.length === 2) resolve({ status, texts, connectProtocol });
      });
      stream.once('close', () =>
        status !== 200 ? resolve({ status, texts: [data.toString()], connectProtocol }) : reject(new Error('closed')),
      );
    });
  } finally {
    session.destroy();
  }
}

describe('switchyard listeners with http2', () => {
  let proxy: RunningProxy | undefined;
  let backend: LoopbackBackend | undefined;
  const cleanupWs: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await backend?.close();
    backend = undefined;
    for (const ws of cleanupWs.splice(0)) await ws.close();
  });

  /** The CLI serving cleartext HTTP/2 (h2c) in front of a new loopback backend `a`; both close after the test. */
  async function h2cProxy(): Promise<{ running: RunningProxy; backend: LoopbackBackend }> {
    const a = await createLoopbackBackend({ id: 'a' });
    backend = a;
    const cfg = file(`
listeners: [{ port: 0, host: 127.0.0.1, http2: h2c }]
backends: [{ id: a, url: "${a.url}" }]
log: false
`);
    const running = (await runCli(['-c', cfg], io())) as RunningProxy;
    proxy = running;
    return { running, backend: a };
  }

  it('serves HTTP/2 (ALPN h2) and HTTP/1.1 on one TLS listener with http2: true', async () => {
    backend = await createLoopbackBackend({ id: 'a' });
    const cfg = file(`
listeners:
  - port: 0
    host: 127.0.0.1
    http2: true
    tls: { cert: "${cert.certFile}", key: "${cert.keyFile}" }
backends: [{ id: a, url: "${backend.url}" }]
log: false
`);
    const cli = io();
    proxy = (await runCli(['-c', cfg], cli)) as RunningProxy;
    expect(cli.err()).toBe('');
    expect(proxy.listeners()[0]?.protocol).toBe('https');
    const port = proxy.port;

    const two = await h2get(`https://localhost:${port}`, '/via-h2', { ca: kit.ca.cert });
    expect(two.status).toBe(200);
    expect(JSON.parse(two.body)).toMatchObject({ backend: 'a', url: '/via-h2' });

    const one = await h1get(port, '/via-h1');
    expect(one.status).toBe(200);
    expect(one.version).toBe('1.1');
    expect(JSON.parse(one.body)).toMatchObject({ backend: 'a', url: '/via-h1' });

    expect(backend.requests.map((r) => r.url)).toEqual(['/via-h2', '/via-h1']);
    expect(backend.requests[0]?.headers['x-forwarded-proto']).toBe('https');
  });

  it('forwards the verified client subject and reloads certificates on an HTTP/2 listener', async () => {
    backend = await createLoopbackBackend({ id: 'a' });
    const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    copyFileSync(cert.certFile, live.cert);
    copyFileSync(cert.keyFile, live.key);
    const client = kit.client('alice', 'alice');
    const cfg = file(`
listeners:
  - port: 0
    host: 127.0.0.1
    http2: true
    tls:
      cert: "${live.cert}"
      key: "${live.key}"
      clientAuth: { ca: "${kit.ca.certFile}", required: false, header: x-client-subject }
backends: [{ id: a, url: "${backend.url}" }]
log: false
`);
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    const url = `https://localhost:${proxy.port}`;
    const served = await h2get(url, '/who', { ca: kit.ca.cert, cert: client.cert, key: client.key });
    expect(served.status).toBe(200);
    expect(backend.requests[0]?.headers['x-client-subject']).toBe('CN=alice,O=switchyard-test');

    const serialOf = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const session = http2.connect(url, { ca: kit.ca.cert });
        session.on('error', reject);
        session.once('connect', () => {
          const serial = (session.socket as TLSSocket).getPeerCertificate().serialNumber;
          session.close();
          resolve(serial);
        });
      });
    const before = await serialOf();
    const next = kit.server('proxy-next', ['localhost']);
    copyFileSync(next.certFile, live.cert);
    copyFileSync(next.keyFile, live.key);
    proxy.instance.reloadCertificates();
    const after = await serialOf();
    expect(after).not.toBe(before);
  });

  it("serves cleartext HTTP/2 (h2c, prior knowledge) on a plain listener with http2: 'h2c'", async () => {
    const { running, backend } = await h2cProxy();
    expect(running.listeners()[0]?.protocol).toBe('http');
    const reply = await h2get(`http://127.0.0.1:${running.port}`, '/via-h2c');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ backend: 'a', url: '/via-h2c' });
    expect(backend.requests.map((r) => r.url)).toEqual(['/via-h2c']);
  });

  it('closes with an HTTP/2 session still open', async () => {
    const { running } = await h2cProxy();
    const session = http2.connect(`http://127.0.0.1:${running.port}`);
    const closed = new Promise<void>((resolve) => session.on('close', () => resolve()));
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    await running.close();
    await closed;
    proxy = undefined;
  });

  it('opens a WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through an h2c listener', async () => {
    const ws = await wsEcho('a');
    cleanupWs.push(ws);
    const cfg = file(`
listeners: [{ port: 0, host: 127.0.0.1, http2: h2c }]
backends: [{ id: a, url: "${ws.url}" }]
log: false
`);
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    const opened = await websocketOverH2(`http://127.0.0.1:${proxy.port}`, '/chat?room=1', 'chat.example');
    expect(opened).toEqual({ status: 200, texts: ['a:welcome', 'a:hello'], connectProtocol: true });
    expect(ws.urls).toEqual(['/chat?room=1']);
  });

  it('routes a WebSocket over HTTP/2 through an http2: true TLS listener to the pool its route names', async () => {
    const chat = await wsEcho('chat');
    const other = await wsEcho('other');
    cleanupWs.push(chat, other);
    const cfg = file(`
listeners:
  - port: 0
    host: 127.0.0.1
    http2: true
    tls: { cert: "${cert.certFile}", key: "${cert.keyFile}" }
pools:
  chat: { backends: [{ url: "${chat.url}" }] }
  other: { backends: [{ url: "${other.url}" }] }
routes:
  - { prefix: /chat, rewrite: { stripPrefix: true }, pool: chat }
  - { pool: other }
log: false
`);
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    const url = `https://127.0.0.1:${proxy.port}`;
    const tlsOptions = { ca: kit.ca.cert, servername: 'localhost' };
    const routed = await websocketOverH2(url, '/chat/room', 'localhost', tlsOptions);
    expect(routed).toEqual({ status: 200, texts: ['chat:welcome', 'chat:hello'], connectProtocol: true });
    const fallback = await websocketOverH2(url, '/elsewhere', 'localhost', tlsOptions);
    expect(fallback.texts).toEqual(['other:welcome', 'other:hello']);
    expect([chat.urls, other.urls]).toEqual([['/room'], ['/elsewhere']]);
  });

  it('refuses http2: true without tls and h2c with tls', async () => {
    const plain = io();
    expect(await runCli(['--check', '-c', file('listeners: [{ port: 0, http2: true }]\nbackends: []\n')], plain)).toBe(
      2,
    );
    expect(plain.err()).toContain('listeners[0].http2');
    const secure = io();
    const cfg = file(
      `listeners: [{ port: 0, http2: h2c, tls: { cert: "${cert.certFile}", key: "${cert.keyFile}" } }]\nbackends: []\n`,
    );
    expect(await runCli(['--check', '-c', cfg], secure)).toBe(2);
    expect(secure.err()).toContain('listeners[0].http2');
  });
});
