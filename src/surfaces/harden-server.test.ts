import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { hardenServer, serverOptions } from './harden-server.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function start(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Writes `bytes` on a raw connection; resolves with what came back once the server closes it. */
function exchange(port: number, bytes: string): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', (error) => ((error as { code?: string }).code === 'ECONNRESET' ? undefined : reject(error)));
    socket.on('close', () => resolve({ text, ms: performance.now() - started }));
  });
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok');

describe('serverOptions and hardenServer', () => {
  it('apply the documented defaults', () => {
    expect(serverOptions()).toMatchObject({
      maxHeaderSize: 16_384,
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: 1_000,
      requireHostHeader: true,
      insecureHTTPParser: false,
    });
    const server = hardenServer(http.createServer(ok));
    expect(server.headersTimeout).toBe(10_000);
    expect(server.requestTimeout).toBe(60_000);
    expect(server.keepAliveTimeout).toBe(5_000);
    expect(server.maxConnections).toBe(10_000);
    expect(server.maxRequestsPerSocket).toBe(1000);
  });

  it('answers a request head over maxHeaderSize with 431', async () => {
    const port = await start(hardenServer(http.createServer(serverOptions({ maxHeaderSize: 2048 }), ok)));
    const { text } = await exchange(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('refuses a request without Host with 400', async () => {
    const port = await start(hardenServer(http.createServer(serverOptions(), ok)));
    const { text } = await exchange(port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('cuts a client that never finishes its head (Slowloris) with 408 after headersTimeout', async () => {
    const options = { headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 };
    const port = await start(hardenServer(http.createServer(serverOptions(options), ok), options));
    const { text, ms } = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(2000);
  });

  it('closes connections beyond maxConnections', async () => {
    const port = await start(hardenServer(http.createServer(serverOptions(), ok), { maxConnections: 1 }));
    const first = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => first.once('connect', resolve));
    // Wait until the server has accepted it.
    const server = servers[0] as http.Server;
    await new Promise<void>((resolve) => {
      const check = () => server.getConnections((_e, n) => (n >= 1 ? resolve() : setImmediate(check)));
      check();
    });
    const { text } = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(text).toBe('');
    first.destroy();
  });

  it('throws a ConfigError naming the option that was given', () => {
    expect(() => serverOptions({ requestTimeout: '1s', headersTimeout: '5s' })).toThrow(ConfigError);
    try {
      serverOptions({ headersTimeout: '2m' });
    } catch (error) {
      expect((error as ConfigError).path).toBe('server.headersTimeout');
      expect((error as ConfigError).message).not.toContain('undefined');
    }
    try {
      hardenServer(http.createServer(), { maxConnections: 0 });
    } catch (error) {
      expect((error as ConfigError).path).toBe('server.maxConnections');
    }
    expect.assertions(4);
  });
});
