import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../../src/index.js';
import { type Listening, listen, until } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { parseResponse, sendRaw } from './rig.js';

let lb: LoadBalancer | undefined;
let front: Listening | undefined;
let backend: http.Server | undefined;
afterEach(async () => {
  await front?.close();
  await lb?.close();
  backend?.closeAllConnections();
  await new Promise((resolve) => (backend ? backend.close(resolve) : resolve(undefined)));
  lb = undefined;
  front = undefined;
  backend = undefined;
});

/** A backend that answers 401 as soon as it has the request head, without reading the body; counts its open connections. */
async function earlyAnswer(): Promise<{ url: string; open: () => number }> {
  let open = 0;
  backend = http.createServer((req, res) => {
    res.writeHead(req.method === 'POST' ? 401 : 200, { 'content-length': '2' });
    res.end('no');
  });
  backend.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  await new Promise<void>((resolve) => backend?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(backend.address() as net.AddressInfo).port}`, open: () => open };
}

/** Sends `bytes`, reads until the head of the first response has come, then resets the connection. */
function sendThenLeave(port: number, bytes: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let seen = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.resetAndDestroy();
      resolve(parseResponse(seen).status);
    });
  });
}

const UPLOADS = [
  ['Content-Length', 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly-part-of-the-body'],
  ['chunked', 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n15\r\nonly-part-of-the-body\r\n'],
] as const;

describe.each(FORWARDERS)('a backend that answers before the body has come ($name)', ({ options }) => {
  it.each(UPLOADS)(
    '%s upload the client breaks off after the answer: the upstream connection is closed, not kept',
    async (_framing, upload) => {
      const server = await earlyAnswer();
      lb = createLoadBalancer({
        ...options,
        retry: false,
        connectionPool: { maxSockets: 2 },
        backends: [{ id: 'early', url: server.url }],
      });
      front = await listen(lb.handler);
      for (let i = 0; i < 3; i++) expect(await sendThenLeave(front.port, upload)).toBe(401);
      // A connection with half a request body on it can never carry another request.
      await until(() => server.open() === 0, 200_000);
      // The pool (two sockets) is not used up by them: the backend is still reachable.
      const next = await sendRaw(front.port, 'GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      expect(next.status).toBe(200);
      expect(lb.backends()[0]).toMatchObject({ active: 0, failures: 0, status: 'healthy' });
    },
  );
});
