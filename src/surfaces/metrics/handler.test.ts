import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, request } from '../../../test/helpers.js';
import { bearerMatches, createMetricsHandler } from './handler.js';
import { poolStats } from './metrics.js';

const sha = (value: string) => createHash('sha256').update(value).digest();

describe('bearerMatches', () => {
  it('accepts the exact token with a case-insensitive Bearer scheme', () => {
    expect(bearerMatches('Bearer s3cret', sha('s3cret'))).toBe(true);
    expect(bearerMatches('bearer s3cret', sha('s3cret'))).toBe(true);
  });

  it('refuses a missing, empty, other-scheme, prefix or longer token', () => {
    for (const header of [undefined, '', 'Bearer ', 'Basic s3cret', 's3cret', 'Bearer s3cre', 'Bearer s3cret2']) {
      expect(bearerMatches(header, sha('s3cret'))).toBe(false);
    }
  });
});

describe('createMetricsHandler', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function serve(options: { token?: string; registry?: Registry | null } = {}) {
    const registry = options.registry === null ? undefined : (options.registry ?? new Registry());
    if (registry) new Counter({ name: 'x_total', help: 'x', registers: [registry] }).inc(3);
    const stats = () => poolStats({ backends: () => [], backend: () => undefined, inflight: () => 5, now: () => 0 });
    const handler = createMetricsHandler({ registry, stats, token: options.token });
    const front = await listen(handler as http.RequestListener);
    servers.push(front);
    return front;
  }

  it('serves the registry in the Prometheus text format', async () => {
    const front = await serve();
    const reply = await request(front.port, { path: '/metrics' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.text).toContain('x_total 3');
  });

  it('serves stats as JSON at ?format=json', async () => {
    const front = await serve();
    const reply = await request(front.port, { path: '/metrics?format=json' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.json<{ requests: { inFlight: number } }>().requests.inFlight).toBe(5);
  });

  it('answers 200 with the token and a bare 401 without it or with a wrong one', async () => {
    const front = await serve({ token: 'letmein' });
    const ok = await request(front.port, { headers: { authorization: 'Bearer letmein' } });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('x_total');
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'letmein' }] as Array<
      Record<string, string>
    >) {
      const denied = await request(front.port, { path: '/?format=json', headers });
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toBe('Bearer');
      expect(denied.body.length).toBe(0);
    }
  });

  it('answers HEAD without a body and refuses other methods with 405', async () => {
    const front = await serve();
    const head = await request(front.port, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const post = await request(front.port, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('answers 404 when metrics are off', async () => {
    const front = await serve({ registry: null });
    expect((await request(front.port)).status).toBe(404);
  });

  it('answers 500 without detail when a collector fails', async () => {
    const registry = new Registry();
    new Counter({
      name: 'broken_total',
      help: 'b',
      registers: [registry],
      collect() {
        throw new Error('secret detail');
      },
    });
    const front = await serve({ registry });
    const reply = await request(front.port);
    expect(reply.status).toBe(500);
    expect(reply.text).toBe('');
  });
});
