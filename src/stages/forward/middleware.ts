import type { Backend } from '../../core/backend.js';
import type { Middleware } from '../../core/compose.js';
import type { Events } from '../../core/events.js';
import type { Strategy } from '../../core/strategy.js';
import { type Forwarder, UpstreamError } from '../../upstream/forwarder/forwarder.js';
import type { UpstreamObserver } from '../../upstream/health/outlier.js';

/**
 * The `forward` stage: sends the request to `ctx.backend` and sets
 * `ctx.response` once response headers arrive. Reports each exchange to the
 * strategy (and to `observer`, outlier detection), and each failure as an
 * `upstream:error` event.
 */
export function forward(
  forwarder: Forwarder,
  strategy: Strategy<Backend>,
  events: Events,
  options: { preserveHost: boolean; now: () => number; observer?: UpstreamObserver | undefined },
): Middleware {
  const observe = strategy.observe?.bind(strategy);
  const { preserveHost, now, observer } = options;
  return async function forward(ctx, next) {
    const backend = ctx.backend;
    if (!backend) throw new Error('forward needs ctx.backend: is select in the chain?');
    let headers = ctx.upstreamHeaders;
    if (!preserveHost) headers = { ...headers, host: backend.url.host };
    const started = now();
    try {
      await forwarder.forward(ctx, backend, headers, ctx.requestBody?.());
    } catch (error) {
      if (error instanceof UpstreamError) {
        // A client that left, a malformed client body or a hedge that lost says nothing about the backend.
        if (error.code !== 'ERR_CLIENT_ABORTED' && error.code !== 'ERR_BAD_REQUEST' && error.code !== 'ERR_CANCELLED') {
          observe?.(backend, { latencyMs: now() - started, ok: false, now: now() });
          observer?.failure(backend, error);
          events.emit('upstream:error', {
            backend: backend.id,
            attempt: ctx.attempt,
            code: error.code,
            message: error.message,
          });
        }
      }
      throw error;
    }
    const judged = ctx.response?.judgedStatus ?? ctx.response?.status ?? 502;
    observer?.response(backend, judged);
    const end = now();
    const status = ctx.response?.status ?? 502;
    observe?.(backend, { latencyMs: end - started, ok: judged < 500, now: end });
    if (events.has('upstream:response')) {
      events.emit('upstream:response', {
        backend: backend.id,
        attempt: ctx.attempt,
        status,
        durationMs: end - started,
      });
    }
    await next();
  };
}
