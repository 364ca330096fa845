import { afterEach, describe, expect, it } from 'vitest';
import type { Context } from '../src/index.js';
import { createMemoryBackend } from '../src/testing/index.js';
import { type Fixture, serve } from './fixture.js';
import { request } from './helpers.js';

/**
 * `ctx.response.body` as user middleware sees it. The undici forwarder makes
 * the body a stream only when something reads it (the balancer's own stages
 * send, watch and discard it without one), so each way of touching it must
 * behave as a plain stream would: read, replaced unread, or left alone.
 */
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const BIG = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));

function activeOf(f: Fixture): number[] {
  return f.lb.stats().backends.map((b) => b.active);
}

/**
 * A balancer in front of `backend` (by default one answering {@link BIG})
 * with a middleware named `name` that runs `then` on the context once the
 * forward stage is done.
 */
function afterForward(
  name: string,
  then: (ctx: Context) => Promise<void> | void,
  backend = createMemoryBackend({ id: 'a', handler: (_req, res) => res.end(BIG) }),
  options: { retry?: false } = {},
): Promise<Fixture> {
  return serve([backend], {
    ...options,
    middleware: [
      {
        name,
        after: 'forward',
        handle: async (ctx: Context, next) => {
          await next();
          await then(ctx);
        },
      },
    ],
  });
}

async function collect(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('ctx.response.body in user middleware', () => {
  it('reads as a stream of the whole upstream body, which the middleware may then replace', async () => {
    const seen: number[] = [];
    fx = await afterForward('rewrite', async (ctx) => {
      const response = ctx.response;
      if (!response || response.body === undefined || Buffer.isBuffer(response.body)) return;
      const bytes = await collect(response.body);
      seen.push(bytes.length);
      const out = Buffer.from(`${bytes.length}:${bytes.equals(BIG)}`);
      response.body = out;
      response.headers = { ...response.headers, 'content-length': String(out.length) };
    });
    const reply = await request(fx.front.port);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('300000:true');
    expect(seen).toEqual([300_000]);
    expect(activeOf(fx)).toEqual([0]);
  });

  it('replaced unread, drops the upstream body and frees the backend', async () => {
    fx = await afterForward('replace', (ctx) => {
      const response = ctx.response;
      if (!response) return;
      response.body = Buffer.from('replaced');
      response.headers = { 'content-type': 'text/plain', 'content-length': '8' };
    });
    for (let i = 0; i < 3; i++) {
      const reply = await request(fx.front.port);
      expect(reply.text).toBe('replaced');
    }
    expect(activeOf(fx)).toEqual([0]);
  });

  it('left alone, streams to the client byte for byte even when it all came before the client response took it', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The whole body is upstream by the time it is held (the backend ended it at once); the client gets it after.
    fx = await afterForward('hold', () => held);
    const reply = request(fx.front.port);
    setImmediate(release);
    const got = await reply;
    expect(got.body.equals(BIG)).toBe(true);
    expect(activeOf(fx)).toEqual([0]);
  });

  it('broken off by the backend before the client response took it: the client connection is cut and the backend blamed', async () => {
    const errors: string[] = [];
    let failed: () => void = () => {};
    const upstreamFailed = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const backend = createMemoryBackend({ id: 'a' });
    fx = await afterForward('wait-for-the-failure', () => upstreamFailed, backend, { retry: false });
    fx.lb.on('upstream:error', (e) => {
      errors.push(e.code);
      failed();
    });
    await backend.fail('close-mid-body');
    await expect(request(fx.front.port)).rejects.toThrow();
    expect(errors).toHaveLength(1);
    expect(activeOf(fx)).toEqual([0]);
  });
});
