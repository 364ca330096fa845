import express from 'express';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createLoopbackBackend, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { next } from './events.js';
import { type Listening, listen, type Reply, request, until } from './helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';
const SECRET = 's'.repeat(32);

let lb: LoadBalancer;
let backends: MemoryBackend[];
let admin: Listening;
const cleanup: Array<() => Promise<unknown>> = [];

async function start(options: Omit<LoadBalancerOptions, 'backends'> = {}, adminOptions: object = {}) {
  backends = ['a', 'b'].map((id) => createMemoryBackend({ id }));
  lb = createLoadBalancer({ strategy: 'round-robin', ...options, backends: backends.map((b) => b.config) });
  admin = await listen(lb.admin({ token: TOKEN, ...adminOptions }));
}

beforeEach(async () => {
  await start();
});

afterEach(async () => {
  await admin.close();
  await lb.close();
  await Promise.all(backends.map((b) => b.close()));
  for (const fn of cleanup.splice(0)) await fn();
});

interface CallOptions {
  body?: unknown;
  raw?: string | Buffer;
  token?: string | null;
  type?: string;
  port?: number;
}

/** One admin request, authorised unless `token: null`. */
function call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = options.type ?? 'application/json';
  return request(options.port ?? admin.port, { method, path, headers, body });
}

function errorOf(reply: Reply): { code: string; message: string; path?: string } {
  return reply.json<{ error: { code: string; message: string; path?: string } }>().error;
}

describe('admin API: access', () => {
  it('answers 401 with no detail without the right bearer token, on any path', async () => {
    for (const [token, path] of [
      [null, '/backends'],
      ['wrong-token-0123456789abcdef', '/backends'],
      [`${TOKEN}x`, '/config'],
      [null, '/no-such-route'],
    ] as const) {
      const reply = await call('GET', path, { token });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Bearer realm="switchyard"');
      expect(reply.json()).toEqual({ error: { code: 'ERR_UNAUTHORIZED', message: 'unauthorized' } });
    }
    const basic = await request(admin.port, {
      path: '/backends',
      headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    expect((await call('GET', '/backends')).status).toBe(200);
  });

  it('does not exist without a token: admin() throws ConfigError', () => {
    const attempt = (options: unknown) => {
      try {
        lb.admin(options as never);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).path;
      }
      throw new Error('did not throw');
    };
    expect(attempt(undefined)).toBe('admin.token');
    expect(attempt({})).toBe('admin.token');
    expect(attempt({ token: 'short' })).toBe('admin.token');
    expect(attempt({ token: `${TOKEN} with spaces` })).toBe('admin.token');
    expect(attempt({ token: TOKEN, maxBodyBytes: 0 })).toBe('admin.maxBodyBytes');
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const unknown = await call('GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).code).toBe('ERR_NOT_FOUND');
    expect((await call('GET', '/backends/a/undrain')).status).toBe(404);

    for (const [method, path, allow] of [
      ['GET', '/rollout/cancel', 'POST'],
      ['GET', '/rollback', 'POST'],
      ['GET', '/backends/a/drain', 'POST'],
      ['PUT', '/backends', 'GET, POST, HEAD'],
      ['POST', '/health', 'GET, HEAD'],
      ['DELETE', '/config', 'GET, PATCH, HEAD'],
    ] as const) {
      const reply = await call(method, path);
      expect(reply.status, `${method} ${path}`).toBe(405);
      expect(reply.headers.allow).toBe(allow);
      expect(errorOf(reply).code).toBe('ERR_METHOD_NOT_ALLOWED');
    }
  });

  it('mounts under a prefix on a plain server, or under Express at its mount path', async () => {
    const prefixed = await listen(lb.admin({ token: TOKEN, prefix: '/admin/' }));
    cleanup.push(() => prefixed.close());
    expect((await call('GET', '/admin/backends', { port: prefixed.port })).status).toBe(200);
    expect((await call('GET', '/backends', { port: prefixed.port })).status).toBe(404);

    const app = express();
    app.use('/ops', lb.admin({ token: TOKEN }));
    const server = await listen(app as never);
    cleanup.push(() => server.close());
    const reply = await call('GET', '/ops/backends/a', { port: server.port });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: { id: 'a' } });
  });
});

describe('admin API: request bodies', () => {
  it('refuses a body that is not JSON with 415, bad JSON with 400, a missing body with 400', async () => {
    const wrongType = await call('POST', '/backends', { raw: 'url=http://x', type: 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(errorOf(wrongType).code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
    const noType = await request(admin.port, {
      method: 'PATCH',
      path: '/config',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{}',
    });
    expect(noType.status).toBe(415);

    const bad = await call('PATCH', '/config', { raw: '{"panicThreshold": ' });
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toMatchObject({ code: 'ERR_BAD_REQUEST', message: expect.stringMatching(/not valid JSON/) });
    const empty = await call('POST', '/backends', { raw: '' });
    expect(empty.status).toBe(400);
    expect(errorOf(empty).code).toBe('ERR_BAD_REQUEST');
    expect((await call('PATCH', '/config', { raw: '{}', type: 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('refuses a body over 1 MiB with 413, announced or streamed', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const announced = await call('POST', '/backends', { raw: big });
    expect(announced.status).toBe(413);
    expect(errorOf(announced).code).toBe('ERR_PAYLOAD_TOO_LARGE');
    const streamed = await request(admin.port, {
      method: 'POST',
      path: '/rollout',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: [big.subarray(0, 600_000).toString(), big.subarray(600_000).toString()],
      chunked: true,
    });
    expect(streamed.status).toBe(413);
    // A body at the limit is read.
    const small = await listen(lb.admin({ token: TOKEN, maxBodyBytes: 16 }));
    cleanup.push(() => small.close());
    expect((await call('PATCH', '/config', { raw: '{            }  ', port: small.port })).status).toBe(200);
    expect((await call('PATCH', '/config', { raw: '{             }  ', port: small.port })).status).toBe(413);
  });
});

describe('admin API: backends', () => {
  it('lists backends and shows one; unlimited maxConnections is null', async () => {
    const list = await call('GET', '/backends');
    expect(list.status).toBe(200);
    expect(list.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(list.headers['cache-control']).toBe('no-store');
    const { backends: shown } = list.json<{ backends: Array<Record<string, unknown>> }>();
    expect(shown.map((b) => b.id)).toEqual(['a', 'b']);
    expect(shown[0]).toMatchObject({ status: 'healthy', weight: 1, maxConnections: null, active: 0 });

    const one = await call('GET', '/backends/b');
    expect(one.json()).toMatchObject({ backend: { id: 'b', url: 'http://b.memory.switchyard/' } });
    const missing = await call('GET', '/backends/zz');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('ERR_BACKEND_NOT_FOUND');
    // Ids may hold characters that travel percent-encoded.
    lb.addBackend({ id: '[::1]:8080', url: 'http://[::1]:8080' });
    expect((await call('GET', `/backends/${encodeURIComponent('[::1]:8080')}`)).status).toBe(200);
    expect((await call('GET', '/backends/%E0%A4%A')).status).toBe(400);
  });

  it('adds a backend: 201, 409 on a taken id, 400 naming the bad field', async () => {
    const added = await call('POST', '/backends', { body: { id: 'c', url: 'http://10.0.0.3:8080', weight: 2 } });
    expect(added.status).toBe(201);
    expect(added.json()).toMatchObject({ backend: { id: 'c', weight: 2, status: 'healthy' } });
    expect(lb.backends().map((b) => b.id)).toEqual(['a', 'b', 'c']);

    const duplicate = await call('POST', '/backends', { body: { id: 'c', url: 'http://10.0.0.4:8080' } });
    expect(duplicate.status).toBe(409);
    expect(errorOf(duplicate).code).toBe('ERR_DUPLICATE_BACKEND');

    const invalid = await call('POST', '/backends', { body: { url: 'ftp://x' } });
    expect(invalid.status).toBe(400);
    expect(errorOf(invalid)).toMatchObject({ code: 'ERR_CONFIG', path: 'backend.url' });
    const unknownField = await call('POST', '/backends', { body: { url: 'http://10.0.0.5', colour: 'red' } });
    expect(errorOf(unknownField).path).toBe('backend.colour');
    const notObject = await call('POST', '/backends', { body: ['http://10.0.0.5'] });
    expect(notObject.status).toBe(400);
  });

  it('updates weight and maxConnections; null lifts the limit', async () => {
    const updated = await call('PATCH', '/backends/a', { body: { weight: 5, maxConnections: 10 } });
    expect(updated.status).toBe(200);
    expect(updated.json()).toMatchObject({ backend: { id: 'a', weight: 5, maxConnections: 10 } });
    const lifted = await call('PATCH', '/backends/a', { body: { maxConnections: null } });
    expect(lifted.json()).toMatchObject({ backend: { maxConnections: null } });
    expect(lb.backends()[0]?.maxConnections).toBe(Number.POSITIVE_INFINITY);

    const invalid = await call('PATCH', '/backends/a', { body: { weight: -1 } });
    expect(invalid.status).toBe(400);
    expect(errorOf(invalid)).toMatchObject({ code: 'ERR_CONFIG', path: 'update.weight' });
    expect(errorOf(await call('PATCH', '/backends/a', { body: { url: 'http://x' } })).path).toBe('update.url');
    const missing = await call('PATCH', '/backends/zz', { body: { weight: 2 } });
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('ERR_BACKEND_NOT_FOUND');
  });

  it('drains in the background with POST .../drain, removes and waits with DELETE', async () => {
    const front = await listen(lb.handler);
    cleanup.push(() => front.close());
    backends[0]!.setLatency('10s');
    const busy = request(front.port).catch((error: Error) => error);
    await until(() => lb.backends()[0]!.active === 1);
    const drained = next(lb, 'backend:drained', (e) => e.backend.id === 'a');
    const reply = await call('POST', '/backends/a/drain?timeout=50');
    expect(reply.status).toBe(202);
    expect(reply.json()).toMatchObject({ backend: { id: 'a', status: 'draining', active: 1 }, removed: false });
    expect((await drained)[0]).toMatchObject({ timedOut: true, abandoned: 1 });
    await busy;
    expect((await call('GET', '/backends/a')).status).toBe(404);

    const deleted = await call('DELETE', '/backends/b?timeout=5s');
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toMatchObject({ backend: { id: 'b' }, timedOut: false, abandoned: 0 });
    expect(lb.backends()).toEqual([]);

    lb.addBackend({ id: 'c', url: 'http://10.0.0.3' });
    expect((await call('POST', '/backends/c/drain')).json()).toMatchObject({ backend: null, removed: true });
    lb.addBackend({ id: 'c', url: 'http://10.0.0.3' });
    expect(errorOf(await call('DELETE', '/backends/c?drain=maybe'))).toMatchObject({
      code: 'ERR_CONFIG',
      path: 'drain',
    });
    expect(errorOf(await call('DELETE', '/backends/c?timeout=soon'))).toMatchObject({ path: 'timeout' });
    expect((await call('DELETE', '/backends/c?drain=false')).status).toBe(200);
    expect((await call('DELETE', '/backends/c')).status).toBe(404);
    expect((await call('POST', '/backends/c/drain')).status).toBe(404);
  });
});

describe('admin API: config', () => {
  it('shows the live config as JSON with secrets and functions described, not leaked', async () => {
    await admin.close();
    await lb.close();
    await Promise.all(backends.map((b) => b.close()));
    await start({
      sticky: { mode: 'cookie', secret: SECRET },
      healthCheck: { interval: '1m', headers: { authorization: 'Bearer upstream-secret' } },
    });
    const reply = await call('GET', '/config');
    expect(reply.status).toBe(200);
    const { config } = reply.json<{
      config: { strategy: unknown; sticky: { secret: unknown }; healthCheck: unknown; backends: unknown[] };
    }>();
    expect(config.strategy).toBe('round-robin');
    expect(config.sticky.secret).toBe('[redacted]');
    expect(config.healthCheck).toMatchObject({ interval: 60_000, headers: { authorization: '[redacted]' } });
    expect(config.backends[0]).toMatchObject({ id: 'a', createConnection: '[function createConnection]' });
    expect(reply.text).not.toContain(SECRET);
    expect(reply.text).not.toContain('upstream-secret');
  });

  it('changes config through configure(), with 400 naming the path of a bad value', async () => {
    const patched = await call('PATCH', '/config', { body: { panicThreshold: 30, strategy: 'least-connections' } });
    expect(patched.status).toBe(200);
    expect(patched.json()).toMatchObject({ config: { panicThreshold: 30, strategy: 'least-connections' } });
    expect(lb.config.panicThreshold).toBe(30);

    const bad = await call('PATCH', '/config', { body: { healthCheck: { interval: 'often' } } });
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toMatchObject({ code: 'ERR_CONFIG', path: 'healthCheck.interval' });
    expect(errorOf(await call('PATCH', '/config', { body: { backends: [] } })).path).toBe('backends');
    expect(errorOf(await call('PATCH', '/config', { body: { strategy: { name: 'maglev', tableSize: 4 } } })).path).toBe(
      'strategy.tableSize',
    );
    expect(errorOf(await call('PATCH', '/config', { body: [] })).code).toBe('ERR_CONFIG');
    expect(lb.config.strategy).toBe('least-connections');
  });
});

describe('admin API: health and metrics', () => {
  it('summarises backend states: 200 while one is available, 503 when none is', async () => {
    const ok = await call('GET', '/health');
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({
      status: 'ok',
      backends: { total: 2, available: 2, healthy: 2, unhealthy: 0, ejected: 0, open: 0, draining: 0 },
    });
    const head = await call('HEAD', '/health');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');

    await lb.removeBackend('a');
    await lb.removeBackend('b');
    const down = await call('GET', '/health');
    expect(down.status).toBe(503);
    expect(down.json()).toMatchObject({ status: 'unavailable', backends: { total: 0, available: 0 } });
  });

  it('serves the metrics behind the admin token, whatever the metrics token', async () => {
    await admin.close();
    await lb.close();
    await Promise.all(backends.map((b) => b.close()));
    await start({ metrics: { token: 'metrics-token-0123456789' } });
    const served = await call('GET', '/metrics');
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toMatch(/^text\/plain/);
    expect(served.text).toContain('switchyard_requests_total');
    expect((await call('GET', '/metrics', { token: null })).status).toBe(401);
  });

  it('answers 501 ERR_NOT_IMPLEMENTED for metrics when they are off', async () => {
    await admin.close();
    await lb.close();
    await Promise.all(backends.map((b) => b.close()));
    await start({ metrics: false });
    const missing = await call('GET', '/metrics');
    expect(missing.status).toBe(501);
    expect(errorOf(missing).code).toBe('ERR_NOT_IMPLEMENTED');
  });
});

describe('admin API: rollouts', () => {
  it('starts, shows, refuses a second, cancels (rolling back) and refuses what is not there', async () => {
    expect(errorOf(await call('GET', '/rollout'))).toMatchObject({ code: 'ERR_NO_ROLLOUT' });
    expect((await call('GET', '/rollout')).status).toBe(404);
    expect((await call('POST', '/rollout/cancel')).status).toBe(409);
    expect(errorOf(await call('POST', '/rollback'))).toMatchObject({ code: 'ERR_NO_ROLLOUT' });

    const v2 = await createLoopbackBackend({ id: 'v2' });
    cleanup.push(() => v2.close());
    const started = await call('POST', '/rollout', {
      body: { backends: [{ id: 'v2', url: v2.url }], interval: '1h', healthGate: { minRequests: 0 } },
    });
    expect(started.status).toBe(202);
    const { rollout } = started.json<{ rollout: { id: string; status: string; to: string[] } }>();
    expect(rollout).toMatchObject({ status: 'running', to: ['v2'] });

    const second = await call('POST', '/rollout', { body: { backends: [{ id: 'v3', url: 'http://10.0.0.9' }] } });
    expect(second.status).toBe(409);
    expect(errorOf(second).code).toBe('ERR_ROLLOUT_IN_PROGRESS');
    expect((await call('POST', '/rollback')).status).toBe(409);

    const shown = await call('GET', '/rollout');
    expect(shown.json()).toMatchObject({
      rollout: { id: rollout.id, status: 'running', phase: 'observing', batch: 1 },
    });
    expect((await call('GET', '/health')).json()).toMatchObject({ rollout: { id: rollout.id, phase: 'observing' } });

    const back = next(lb, 'rollout:rolled-back');
    expect((await call('POST', '/rollout/cancel')).status).toBe(202);
    expect((await back)[0]).toEqual({ id: rollout.id, reason: 'cancelled: cancelled through the admin API' });
    expect((await call('GET', '/rollout')).json()).toMatchObject({
      rollout: { status: 'cancelled', rolledBack: true, phase: 'done' },
    });
    expect(lb.backends().map((b) => b.id)).toEqual(['a', 'b']);
    expect((await call('POST', '/rollout/cancel')).status).toBe(409);
    expect(errorOf(await call('POST', '/rollback')).code).toBe('ERR_NO_ROLLOUT');
  });

  it('rolls a completed rollout back through POST /rollback', async () => {
    const v2 = await createLoopbackBackend({ id: 'v2' });
    cleanup.push(() => v2.close());
    const completed = next(lb, 'rollout:completed');
    await call('POST', '/rollout', {
      body: { backends: [{ id: 'v2', url: v2.url }], interval: 1, healthGate: { minRequests: 0 } },
    });
    await completed;
    expect(lb.backends().map((b) => b.id)).toEqual(['v2']);
    const back = next(lb, 'rollout:rolled-back');
    const reply = await call('POST', '/rollback');
    expect(reply.status).toBe(202);
    expect(reply.json()).toMatchObject({ rollout: { phase: 'rolling-back' } });
    await back;
    expect(lb.backends().map((b) => b.id)).toEqual(['a', 'b']);
  });

  it('answers 400 naming the path for a bad rollout', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'backends'],
      [{ backends: [{ id: 'a', url: 'http://10.9.9.9' }] }, 'backends[0].id'],
      [{ backends: [{ url: 'http://10.9.9.9' }], batchSize: -1 }, 'batchSize'],
      [{ backends: [{ url: 'http://10.9.9.9' }], healthGate: { minRequests: 'x' } }, 'healthGate.minRequests'],
      [{ backends: [{ url: 'http://10.9.9.9' }], signal: 'stop' }, 'signal'],
    ];
    for (const [body, path] of cases) {
      const reply = await call('POST', '/rollout', { body });
      expect(reply.status).toBe(400);
      expect(errorOf(reply)).toMatchObject({ code: 'ERR_CONFIG', path });
    }
    expect(lb.rolloutStatus()).toBeUndefined();
  });
});
