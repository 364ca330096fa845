import { setTimeout as sleep } from 'node:timers/promises';
import type { RetryOptions } from '../config/options.js';
import type { Events, RetryReason } from '../events.js';
import { UpstreamError } from '../forward/forwarder.js';
import type { Middleware } from '../pipeline/compose.js';
import type { Context } from '../pipeline/context.js';

/** True when the request carries a body (RFC 9112 §6.3: Transfer-Encoding or a non-zero Content-Length). */
export function hasBody(ctx: Context): boolean {
  const headers = ctx.req.headers;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * The `retry` stage: runs the attempt bracket (`select → … → forward`) and,
 * when an attempt fails before the client got anything, runs it again on a
 * backend not yet tried. Only methods in `methods` are retried (RFC 9110
 * §9.2.2), and only requests without a body; waits are full-jitter
 * exponential backoff.
 */
export function retry(
  options: RetryOptions,
  attempt: (ctx: Context) => Promise<void>,
  deps: { events: Events; random: () => number; canRetry: (ctx: Context) => boolean },
): Middleware {
  const methods = new Set(options.methods);
  const statuses = new Set(options.statuses);
  const { events, random, canRetry } = deps;

  function backoff(n: number): number {
    return random() * Math.min(options.backoffMax, options.backoffBase * 2 ** (n - 1));
  }

  async function wait(ctx: Context, n: number, reason: RetryReason, status?: number): Promise<void> {
    const delayMs = backoff(n);
    events.emit('retry', {
      backend: ctx.backend?.id ?? '',
      attempt: n + 1,
      reason,
      ...(status === undefined ? {} : { status }),
      delayMs,
    });
    if (delayMs >= 1) await sleep(delayMs, undefined, { signal: ctx.signal });
  }

  return async function retry(ctx, _next) {
    const max = methods.has(ctx.method) && !hasBody(ctx) ? options.attempts : 1;
    for (let n = 1; ; n++) {
      try {
        await attempt(ctx);
      } catch (error) {
        if (n >= max || !(error instanceof UpstreamError) || error.code === 'ERR_CLIENT_ABORTED' || !canRetry(ctx)) {
          throw error;
        }
        await wait(ctx, n, error.reason);
        continue;
      }
      const response = ctx.response;
      if (n < max && response && statuses.has(response.status) && canRetry(ctx)) {
        // Discard this answer: the client has not seen a byte of it.
        const body = response.body;
        if (body && !Buffer.isBuffer(body)) body.destroy();
        ctx.response = undefined;
        await wait(ctx, n, 'status', response.status);
        continue;
      }
      return;
    }
  };
}
