import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import {
  createLoopbackBackend,
  createMemoryBackend,
  type LoopbackBackend,
  type TestBackend,
} from '../src/testing/index.js';
import { forwarderOptions } from './conformance/forwarders.js';
import { type Listening, listen, request } from './helpers.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function balancer(): { lb: LoadBalancer; backend: TestBackend } {
  const backend = createMemoryBackend({ id: 'm' });
  const lb = createLoadBalancer({ ...forwarderOptions(), backends: [backend.config] });
  cleanup.push(
    () => backend.close(),
    () => lb.close(),
  );
  return { lb, backend };
}

async function serve(server: http.Server): Promise<Listening> {
  const listening = await listen(server);
  cleanup.push(() => listening.close());
  return listening;
}

/** A loopback backend `id` that also speaks WebSocket: `onConnection` runs for every socket. */
async function webSocketBackend(
  id: string,
  onConnection: (socket: WebSocket, req: http.IncomingMessage) => void,
): Promise<LoopbackBackend> {
  const backend = await createLoopbackBackend({ id });
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', onConnection);
  cleanup.push(
    () => backend.close(),
    () => wss.close(),
  );
  return backend;
}

/** A balancer built from `options`, on a plain http server whose upgrades go to `lb.upgrade`. */
async function upgrading(options: LoadBalancerOptions): Promise<Listening> {
  const lb = createLoadBalancer({ ...forwarderOptions(), ...options });
  cleanup.push(() => lb.close());
  const server = http.createServer(lb.handler);
  server.on('upgrade', lb.upgrade);
  return serve(server);
}

describe('mounting', () => {
  it('serves from a plain http server', async () => {
    const { lb } = balancer();
    const front = await serve(http.createServer(lb.handler));
    expect((await request(front.port, { path: '/plain' })).json()).toEqual({
      backend: 'm',
      method: 'GET',
      url: '/plain',
    });
  });

  it('serves as Express 5 middleware under a path prefix, forwarding the path below it', async () => {
    const { lb, backend } = balancer();
    const app = express();
    app.get('/local', (_req, res) => {
      res.send('local route');
    });
    app.use('/api', lb.express());
    const front = await serve(http.createServer(app));
    expect((await request(front.port, { path: '/local' })).text).toBe('local route');
    const reply = await request(front.port, { path: '/api/users?id=7', method: 'POST', body: '{"a":1}' });
    expect(reply.json()).toMatchObject({ backend: 'm', url: '/users?id=7' });
    expect(backend.requests.at(-1)?.body.toString()).toBe('{"a":1}');
  });

  it('forwards the full path under Express with keepMountPath', async () => {
    const { lb } = balancer();
    const app = express();
    app.use('/api', lb.express({ keepMountPath: true }));
    const front = await serve(http.createServer(app));
    expect((await request(front.port, { path: '/api/users' })).json()).toMatchObject({ url: '/api/users' });
  });

  it('serves as Koa 3 middleware', async () => {
    const { lb } = balancer();
    const app = new Koa();
    const seen: string[] = [];
    app.use(async (ctx, next) => {
      seen.push(ctx.path);
      await next();
    });
    app.use(lb.koa());
    const front = await serve(http.createServer(app.callback()));
    const reply = await request(front.port, { path: '/koa?x=1' });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'm', url: '/koa?x=1' });
    expect(seen).toEqual(['/koa']);
  });

  it('proxies a WebSocket upgrade through lb.upgrade', async () => {
    const backend = await webSocketBackend('ws', (socket, req) => {
      socket.send(`hello ${req.headers['x-forwarded-for']}`);
      socket.on('message', (data) => socket.send(`echo ${data.toString()}`));
    });
    const front = await upgrading({ backends: [backend.config] });
    const client = new WebSocket(`ws://127.0.0.1:${(front.server.address() as AddressInfo).port}/chat`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.on('message', (data) => {
        messages.push(data.toString());
        if (messages.length === 1) client.send('ping');
        if (messages.length === 2) resolve();
      });
      client.on('error', reject);
    });
    client.close();
    expect(messages).toEqual(['hello 127.0.0.1', 'echo ping']);
  });

  it('counts WebSocket upgrades against the rate limit and refuses one over it with 429', async () => {
    const backend = await webSocketBackend('ws', (socket) => socket.send('hello'));
    const front = await upgrading({ backends: [backend.config], rateLimit: { points: 1, duration: '1m' } });
    const first = new WebSocket(`ws://127.0.0.1:${front.port}/`);
    const greeting = await new Promise<string>((resolve, reject) => {
      first.on('message', (data) => resolve(data.toString()));
      first.on('error', reject);
    });
    expect(greeting).toBe('hello');
    first.close();
    const second = new WebSocket(`ws://127.0.0.1:${front.port}/`);
    const refused = await new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve) => {
      second.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }),
        );
      });
      second.on('error', () => {});
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
  });

  it('keeps a sticky session across HTTP and WebSocket upgrades', async () => {
    const backends = await Promise.all(['w1', 'w2'].map((id) => webSocketBackend(id, (socket) => socket.send(id))));
    const front = await upgrading({
      strategy: 'round-robin',
      backends: backends.map((b) => b.config),
      sticky: { mode: 'cookie', secret: 'k'.repeat(32) },
    });
    const first = await request(front.port);
    const home = first.json<{ backend: string }>().backend;
    const cookie = String(first.headers['set-cookie']?.[0]).split(';')[0] as string;
    const greetings: string[] = [];
    for (let i = 0; i < 4; i++) {
      const client = new WebSocket(`ws://127.0.0.1:${front.port}/`, { headers: { cookie } });
      greetings.push(
        await new Promise<string>((resolve, reject) => {
          client.on('message', (data) => resolve(data.toString()));
          client.on('error', reject);
        }),
      );
      client.close();
    }
    // Round robin alone would alternate; the session holds every upgrade on one backend.
    expect(greetings).toEqual([home, home, home, home]);
  });

  it('refuses an upgrade with 503 when no backend is available', async () => {
    const front = await upgrading({ backends: [] });
    const client = new WebSocket(`ws://127.0.0.1:${front.port}/`);
    const status = await new Promise<number>((resolve) => {
      client.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      client.on('error', () => resolve(-1));
    });
    expect(status).toBe(503);
  });
});
