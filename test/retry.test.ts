import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { LoadBalancer, LoadBalancerOptions, SwitchyardEvents } from '../src/index.js';
import { type BackendHandler, createMemoryBackend, type MemoryBackend } from '../src/testing/index.js';
import { closeAfterEach, type Fixture, serve } from './fixture.js';
import { request } from './helpers.js';

const track = closeAfterEach();

/** Memory backends (`id` or `[id, handler]`), a round-robin balancer in front, on a loopback port. */
async function build(
  specs: Array<string | [string, BackendHandler]>,
  options: Omit<LoadBalancerOptions, 'backends'> = {},
): Promise<Fixture & { backends: MemoryBackend[] }> {
  const backends = specs.map((spec) =>
    typeof spec === 'string'
      ? createMemoryBackend({ id: spec })
      : createMemoryBackend({ id: spec[0], handler: spec[1] }),
  );
  return track(
    await serve(backends, {
      // Retry behaviour alone: breakers and ejection would change what a retry meets.
      outlierDetection: false,
      circuitBreaker: false,
      ...options,
    }),
  );
}

function retries(lb: LoadBalancer): SwitchyardEvents['retry'][] {
  const log: SwitchyardEvents['retry'][] = [];
  lb.on('retry', (e) => log.push(e));
  return log;
}

/** Reads the whole request body, then answers with what it read. */
const echo: BackendHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => res.end(JSON.stringify({ bytes: Buffer.concat(chunks).length })));
};

const body = (size: number) =>
  Buffer.from(Array.from({ length: size }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));

describe('request bodies', () => {
  it('never sends a POST with a body twice', async () => {
    const { front, backends } = await build(['a', 'b'], { retry: { attempts: 3 } });
    await backends[0]?.fail('reset');
    const reply = await request(front.port, { method: 'POST', body: 'once' });
    expect(reply.status).toBe(502);
    expect(backends[0]?.requests.map((r) => r.body.toString())).toEqual(['once']);
    expect(backends[1]?.requests).toHaveLength(0);
  });

  it('retries a PUT with a small body and the second backend reads the identical body', async () => {
    const { lb, front, backends } = await build(['a', ['b', echo]]);
    await backends[0]?.fail('reset');
    const log = retries(lb);
    const payload = body(5000);
    const reply = await request(front.port, { method: 'PUT', path: '/doc', body: payload });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ bytes: 5000 });
    const [first] = backends[0]?.requests ?? [];
    const [second] = backends[1]?.requests ?? [];
    expect(first?.body.equals(payload)).toBe(true);
    expect(second?.body.equals(payload)).toBe(true);
    expect(second?.headers['content-length']).toBe('5000');
    expect(second?.headers['transfer-encoding']).toBeUndefined();
    expect(log).toMatchObject([{ backend: 'a', attempt: 2, reason: 'reset' }]);
  });

  it('replays a small chunked body with chunked framing', async () => {
    const { front, backends } = await build(['a', 'b']);
    await backends[0]?.fail('reset');
    const reply = await request(front.port, { method: 'PUT', body: ['one,', 'two,', 'three'], chunked: true });
    expect(reply.status).toBe(200);
    const [second] = backends[1]?.requests ?? [];
    expect(second?.body.toString()).toBe('one,two,three');
    expect(second?.headers['transfer-encoding']).toBe('chunked');
    expect(second?.headers['content-length']).toBeUndefined();
  });

  it('streams a body above the buffer limit intact and does not retry it', async () => {
    const { front, backends } = await build(['a', 'b'], { retry: { maxBufferBytes: 1024 } });
    await backends[0]?.fail('reset');
    const payload = body(200_000);
    const reply = await request(front.port, { method: 'PUT', body: payload });
    expect(reply.status).toBe(502);
    expect(backends[0]?.requests[0]?.body.equals(payload)).toBe(true);
    expect(backends[1]?.requests).toHaveLength(0);
    // And to a healthy backend it arrives byte for byte.
    await backends[0]?.fail(null);
    const ok = await request(front.port, { method: 'PUT', body: payload });
    expect(ok.status).toBe(200);
    const last = [...(backends[0]?.requests ?? []), ...(backends[1]?.requests ?? [])].at(-1);
    expect(last?.body.equals(payload)).toBe(true);
    expect(last?.headers['content-length']).toBe('200000');
  });

  it('forwards a chunked body that outgrows the buffer intact, chunked, without retrying it', async () => {
    const { front, backends } = await build(['a', 'b'], { retry: { maxBufferBytes: 1000 } });
    await backends[0]?.fail('reset');
    const chunks = Array.from({ length: 40 }, (_, i) => body(100 + i).toString());
    const reply = await request(front.port, { method: 'PUT', body: chunks, chunked: true });
    expect(reply.status).toBe(502);
    const [first] = backends[0]?.requests ?? [];
    expect(first?.body.toString()).toBe(chunks.join(''));
    expect(first?.headers['transfer-encoding']).toBe('chunked');
    expect(backends[1]?.requests).toHaveLength(0);
  });

  it('sends a bodyless POST whose connection was refused to the next backend, once', async () => {
    const { front, backends } = await build(['a', 'b']);
    await backends[0]?.fail('refuse');
    const reply = await request(front.port, { method: 'POST', path: '/order' });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'b', method: 'POST' });
    expect(backends[1]?.requests).toHaveLength(1);
  });
});

describe('what is retried', () => {
  it('does not retry the failures left out of retryOn', async () => {
    const { front, backends } = await build(['a', 'b'], {
      retry: { retryOn: ['connect-failure'] },
      timeouts: { response: 30 },
    });
    await backends[0]?.fail('hang');
    const reply = await request(front.port);
    expect(reply.status).toBe(504);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_TIMEOUT' } });
    expect(backends[1]?.requests).toHaveLength(0);
  });

  it('never retries once the response has started to the client', async () => {
    const { front, backends } = await build(['a', 'b'], { retry: { attempts: 3 } });
    await backends[0]?.fail('close-mid-body');
    await expect(request(front.port)).rejects.toThrow();
    expect(backends[1]?.requests).toHaveLength(0);
  });

  it('retries a reset on a reused keep-alive socket once, beyond attempts, on the same backend', async () => {
    // The backend serves the first request of a connection, then closes it as the next one arrives.
    const served = new WeakSet<object>();
    const racy: BackendHandler = (req, res) => {
      if (served.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      res.end('ok');
    };
    const { lb, front, backends } = await build([['a', racy]], { retry: { attempts: 1 } });
    const log = retries(lb);
    expect((await request(front.port)).text).toBe('ok');
    const reply = await request(front.port);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('ok');
    expect(backends[0]?.requests).toHaveLength(3);
    expect(backends[0]?.connections).toBe(2);
    expect(log).toMatchObject([{ backend: 'a', attempt: 2, reason: 'reset', delayMs: 0 }]);
    // A POST on the same race is answered 502: it may have been processed.
    expect((await request(front.port)).status).toBe(200);
    const post = await request(front.port, { method: 'POST', body: 'x' });
    expect(post.status).toBe(502);
    expect(backends[0]?.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });
});

describe('Retry-After', () => {
  const busy =
    (value: string): BackendHandler =>
    (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(503, { 'retry-after': value, 'content-type': 'text/plain' });
      res.end('busy');
    };

  it('waits as long as a short Retry-After says before retrying', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { lb, front, backends } = await build([['a', busy('1')], 'b'], { retry: { retryAfterMax: '2s' } });
    const log = retries(lb);
    const retried = new Promise((resolve) => lb.once('retry', resolve));
    const pending = request(front.port);
    await retried;
    expect(log[0]).toMatchObject({ backend: 'a', reason: 'status', status: 503, delayMs: 1000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(backends[1]?.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ backend: 'b' });
  });

  it('answers with the 503 itself when Retry-After is beyond retryAfterMax', async () => {
    const { front, backends } = await build([['a', busy('30')], 'b']);
    const reply = await request(front.port);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('30');
    expect(reply.text).toBe('busy');
    expect(backends[1]?.requests).toHaveLength(0);
  });
});

describe('deadline', () => {
  it('answers 504 ERR_DEADLINE when timeouts.total passes, retries included', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { lb, front, backends } = await build(['a', 'b'], { timeouts: { total: 300 }, retry: { backoff: () => 0 } });
    backends[0]?.setStatus(503);
    await backends[1]?.fail('hang');
    const retried = new Promise((resolve) => lb.once('retry', resolve));
    const pending = request(front.port);
    await retried;
    await vi.advanceTimersByTimeAsync(299);
    expect(backends[1]?.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    const reply = await pending;
    expect(reply.status).toBe(504);
    expect(reply.json()).toMatchObject({ error: { code: 'ERR_DEADLINE' } });
  });

  it('does not start a retry whose backoff would cross the deadline', async () => {
    const { front, backends } = await build(['a', 'b'], { timeouts: { total: '1s' }, retry: { backoff: () => 5000 } });
    backends[0]?.setStatus(503);
    const reply = await request(front.port);
    expect(reply.status).toBe(503);
    expect(backends[1]?.requests).toHaveLength(0);
  });
});

describe('retry budget', () => {
  async function outage(budget: false | { percent: number; minRetriesPerSecond: number }) {
    const { lb, front, backends } = await build(['a', 'b', 'c'], {
      retry: { attempts: 3, backoff: () => 0, budget },
      now: () => 0,
    });
    for (const b of backends) b.setStatus(503);
    const log = retries(lb);
    const n = 50;
    const replies = await Promise.all(Array.from({ length: n }, () => request(front.port)));
    const sent = backends.reduce((sum, b) => sum + b.requests.length, 0);
    return { replies, retries: log.length, sent, n };
  }

  it('caps retries under a full outage at percent of requests plus the reserve', async () => {
    const { replies, retries: count, sent, n } = await outage({ percent: 20, minRetriesPerSecond: 1 });
    // 20% of 50 requests + 1/s over the 10 s ttl
    expect(count).toBe(20);
    expect(sent).toBe(n + 20);
    expect(replies.every((r) => r.status === 503)).toBe(true);
  });

  it('without a budget every request retries up to attempts', async () => {
    const { retries: count, sent, n } = await outage(false);
    expect(count).toBe(2 * n);
    expect(sent).toBe(3 * n);
  });
});
