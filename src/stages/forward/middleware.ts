import type { Backend } from '../../core/backend.js';
import { chainEnded, type Middleware } from '../../core/compose.js';
import type { Events } from '../../core/events.js';
import { bodyFailure, classifyFailure } from '../../core/fault.js';
import { streamedBody, watchBody } from '../../core/response-body.js';
import type { Strategy } from '../../core/strategy.js';
import type { UpstreamError } from '../../core/upstream-error.js';
import type { UpstreamForwarder } from '../../upstream/forwarder/upstream-forwarder.js';
import type { UpstreamObserver } from '../../upstream/health/outlier.js';

/** The cause of an upstream failure as events carry it: the socket error's code and syscall. */
function causeOf(error: UpstreamError): { cause?: string; syscall?: string } {
  const cause = error.cause as { code?: unknown; syscall?: unknown } | undefined;
  const out: { cause?: string; syscall?: string } = {};
  if (typeof cause?.code === 'string') out.cause = cause.code;
  if (typeof cause?.syscall === 'string') out.syscall = cause.syscall;
  return out;
}

/**
 * The `forward` stage: sends the request to `ctx.backend` and sets
 * `ctx.response` once response headers arrive. Reports each exchange to the
 * strategy (and to `observer`, outlier detection) once its body is over, so a
 * backend that breaks off mid-body counts as failed, and each failure that is
 * the backend's fault (see `classifyFailure`) as an `upstream:error` event.
 */
export function forward(
  forwarder: UpstreamForwarder,
  strategy: Strategy<Backend>,
  events: Events,
  options: { preserveHost: boolean; now: () => number; observer?: UpstreamObserver | undefined },
): Middleware {
  const observe = strategy.observe?.bind(strategy);
  const { preserveHost, now, observer } = options;

  function failed(backend: Backend, attempt: number, latencyMs: number, error: UpstreamError): void {
    observe?.(backend, { latencyMs, ok: false, now: now() });
    observer?.failure(backend, error);
    events.emit('upstream:error', {
      backend: backend.id,
      attempt,
      code: error.code,
      message: error.message,
      ...causeOf(error),
    });
  }

  return async function forward(ctx, next) {
    const backend = ctx.backend;
    if (!backend) throw new Error('forward needs ctx.backend: is select in the chain?');
    let headers = ctx.upstreamHeaders;
    if (!preserveHost) headers = { ...headers, host: backend.url.host };
    const started = now();
    const attempt = ctx.attempt;
    try {
      await forwarder.forward(ctx, backend, headers, ctx.requestBody?.());
    } catch (error) {
      // Neither a client that left, a hedge that lost nor the idle-socket race says anything about the backend.
      if (classifyFailure(error) === 'backend') failed(backend, attempt, now() - started, error as UpstreamError);
      throw error;
    }
    const end = now();
    const latencyMs = end - started;
    const response = ctx.response;
    const status = response?.status ?? 502;
    const streamed = response === undefined ? undefined : streamedBody(response);
    if (streamed === undefined) {
      // A trailers-only gRPC failure is judged by its HTTP equivalent (its status is 200).
      const judged = response?.judgedStatus ?? status;
      observer?.response(backend, judged);
      observe?.(backend, { latencyMs, ok: judged < 500, now: end });
    } else {
      // Dropped when the client exchange ends, should nothing read it (see Context.upstreamBody).
      ctx.upstreamBody = streamed;
      // Judged when the body is over: headers that come fast followed by a reset are a failure,
      // and a gRPC call's status may come in its trailers (the forwarder sets `judgedStatus`).
      watchBody(streamed, (outcome, error) => {
        if (outcome === 'failed') {
          failed(backend, attempt, latencyMs, bodyFailure(backend.id, error));
          return;
        }
        if (!observer && !observe) return;
        const judged = response?.judgedStatus ?? status;
        observer?.response(backend, judged);
        observe?.(backend, { latencyMs, ok: judged < 500, now: now() });
      });
    }
    if (events.has('upstream:response')) {
      events.emit('upstream:response', { backend: backend.id, attempt, status, durationMs: latencyMs });
    }
    // Usually the last stage: the chain's end needs no await (one microtask hop less).
    const rest = next();
    if (!chainEnded(rest)) await rest;
  };
}
