import http from 'node:http';
import net from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createLoadBalancer, type LoadBalancerOptions, SwitchyardError } from '../src/index.js';
import { createLoopbackBackend, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { type Listening, listen, request } from './helpers.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function setup(options: Partial<LoadBalancerOptions> = {}, backend?: MemoryBackend) {
  const b = backend ?? createMemoryBackend({ id: 'a' });
  const lb = createLoadBalancer({ backends: [b.config], retry: false, ...options });
  const events: { status: number; error?: string }[] = [];
  lb.on('request', (e) => events.push({ status: e.status, ...(e.error ? { error: e.error } : {}) }));
  cleanup.push(
    () => b.close(),
    () => lb.close(),
  );
  return { lb, backend: b, events };
}

async function serve(handler: http.RequestListener | http.Server): Promise<Listening> {
  const listening = await listen(handler);
  cleanup.push(() => listening.close());
  return listening;
}

/** Sends a raw upgrade request and resolves with the first response bytes (the status line and headers). */
function rawUpgrade(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
  });
}

describe('onError', () => {
  it('renders an upstream failure in the caller’s format, with the request id kept and the code reported', async () => {
    const seen: SwitchyardError[] = [];
    const { lb, backend, events } = setup({
      onError(error, req, res) {
        seen.push(error);
        res.setHeader('content-type', 'text/html');
        res.end(`<h1>${res.statusCode} ${error.code}</h1><p>${req.url}</p>`);
      },
    });
    await backend.fail('reset');
    const front = await serve(lb.handler);
    const reply = await request(front.port, { path: '/page', headers: { 'x-request-id': 'req-1' } });
    expect(reply.status).toBe(502);
    expect(reply.headers['content-type']).toBe('text/html');
    expect(reply.headers['x-request-id']).toBe('req-1');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.text).toBe('<h1>502 ERR_UPSTREAM_RESET</h1><p>/page</p>');
    expect(seen[0]).toBeInstanceOf(SwitchyardError);
    expect(events).toEqual([{ status: 502, error: 'ERR_UPSTREAM_RESET' }]);
  });

  it('renders a refusal too, keeping Retry-After and the RateLimit headers', async () => {
    const { lb } = setup({
      rateLimit: { points: 1, duration: '1m' },
      onError(error, _req, res) {
        res.end(`slow down (${error.code}, ${error.status})`);
      },
    });
    const front = await serve(lb.handler);
    expect((await request(front.port)).status).toBe(200);
    const refused = await request(front.port);
    expect(refused.status).toBe(429);
    expect(refused.text).toBe('slow down (ERR_RATE_LIMITED, 429)');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['ratelimit-limit']).toBe('1');
  });

  it('falls back to the JSON body when the handler sends nothing or throws', async () => {
    let calls = 0;
    const { lb, backend } = setup({
      onError() {
        calls++;
        if (calls === 2) throw new Error('renderer bug');
      },
    });
    await backend.down();
    const front = await serve(lb.handler);
    for (let i = 0; i < 2; i++) {
      const reply = await request(front.port);
      expect(reply.status).toBe(502);
      expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
    }
    expect(calls).toBe(2);
  });

  it('leaves backend responses alone, whatever their status', async () => {
    let calls = 0;
    const { lb, backend } = setup({ onError: () => void calls++ });
    backend.setStatus(500);
    const front = await serve(lb.handler);
    expect((await request(front.port)).status).toBe(500);
    expect(calls).toBe(0);
  });

  it('is refused by the CLI’s config file: a function cannot be written in YAML', async () => {
    const { parseConfigFile } = await import('../src/cli/config-file.js');
    expect(() => parseConfigFile('onError: x\n', {})).toThrow(/onError/);
  });
});

describe('express({ forwardErrors: true })', () => {
  it('passes the balancer’s errors to next(err) for the app’s error handler', async () => {
    const { backend, lb, events } = setup();
    await backend.down();
    const app = express();
    app.use('/api', lb.express({ forwardErrors: true }));
    app.use((error: SwitchyardError, _req: Request, res: Response, _next: NextFunction) => {
      res
        .status(error.status ?? 500)
        .type('text/plain')
        .send(`app says ${error.code}`);
    });
    const front = await serve(http.createServer(app));
    const reply = await request(front.port, { path: '/api/x' });
    expect(reply.status).toBe(502);
    expect(reply.text).toBe('app says ERR_UPSTREAM_CONNECT');
    expect(events).toEqual([{ status: 502, error: 'ERR_UPSTREAM_CONNECT' }]);
  });

  it('still streams successful responses itself', async () => {
    const { lb } = setup();
    const app = express();
    app.use('/api', lb.express({ forwardErrors: true }));
    const front = await serve(http.createServer(app));
    expect((await request(front.port, { path: '/api/x' })).json()).toEqual({ backend: 'a', method: 'GET', url: '/x' });
  });
});

describe('rewrite', () => {
  it('replaces a path prefix before the request goes upstream, query kept', async () => {
    const { lb, backend } = setup({ rewrite: { prefix: '/api/v1', to: '/v2' } });
    const front = await serve(lb.handler);
    await request(front.port, { path: '/api/v1/users?page=2' });
    await request(front.port, { path: '/api/v10' }); // not the same segment
    expect(backend.requests.map((r) => r.url)).toEqual(['/v2/users?page=2', '/api/v10']);
  });

  it('applies after the Express mount path is stripped', async () => {
    const { lb, backend } = setup({ rewrite: { prefix: '/', to: '/internal' } });
    const app = express();
    app.use('/api', lb.express());
    const front = await serve(http.createServer(app));
    await request(front.port, { path: '/api/users' });
    expect(backend.requests[0]?.url).toBe('/internal/users');
  });

  it('answers 500 ERR_MIDDLEWARE when a rewrite function returns no path', async () => {
    const { lb, backend } = setup({ rewrite: () => 'http://elsewhere.example/' });
    const front = await serve(lb.handler);
    const reply = await request(front.port);
    expect(reply.status).toBe(500);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_MIDDLEWARE' } });
    expect(backend.requests).toEqual([]);
  });

  it('throws a ConfigError naming rewrite for a bad option', () => {
    expect(() => createLoadBalancer({ rewrite: { prefix: 'api', to: '/' } })).toThrow(/rewrite/);
  });
});

describe('lb.upgradeAt(mountPath)', () => {
  it('takes the upgrades under its mount path, strips it, and leaves the others to other listeners', async () => {
    const ws = await createLoopbackBackend({ id: 'ws' });
    const wss = new WebSocketServer({ server: ws.server });
    const paths: string[] = [];
    wss.on('connection', (_socket, req) => paths.push(req.url ?? ''));
    const lb = createLoadBalancer({ backends: [ws.config] });
    cleanup.push(
      () => ws.close(),
      () => lb.close(),
      () => wss.close(),
    );
    const app = express();
    app.use('/api', lb.express());
    const server = http.createServer(app);
    server.on('upgrade', lb.upgradeAt('/api'));
    const others: string[] = [];
    const seenAfter: string[] = [];
    server.on('upgrade', (req, socket) => {
      seenAfter.push(req.url ?? '');
      if (/^\/api(?:[/?]|$)/.test(req.url ?? '')) return; // lb.upgradeAt's
      others.push(req.url ?? '');
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    const front = await serve(server);

    expect(await rawUpgrade(front.port, '/api/chat?room=1')).toMatch(/^HTTP\/1\.1 101 /);
    expect(await rawUpgrade(front.port, '/apiary')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await rawUpgrade(front.port, '/other')).toMatch(/^HTTP\/1\.1 404 /);
    expect(paths).toEqual(['/chat?room=1']);
    expect(others).toEqual(['/apiary', '/other']);
    // Later listeners see req.url as the client sent it.
    expect(seenAfter).toEqual(['/api/chat?room=1', '/apiary', '/other']);
  });

  it('refuses a mount path that is not a path', () => {
    const { lb } = setup();
    expect(() => lb.upgradeAt('api')).toThrow(/mountPath/);
  });
});
