import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Context, type PendingResponse } from '../core/context.js';
import { makeError, SwitchyardError } from '../core/errors.js';
import type { Events, SwitchyardEvents } from '../core/events.js';
import { clientParseError } from '../core/net/client-error.js';
import { consumedBody } from '../core/net/consumed-body.js';
import { grpcMessage, httpToGrpcStatus, isGrpc, parseGrpcTimeout } from '../core/net/grpc.js';
import { hasBody } from '../core/net/has-body.js';
import { isHttp2, requestAuthority, responseClosed, responseFinished } from '../core/net/http2-compat.js';
import { resolveTarget } from '../core/net/request-target.js';
import { resolveClientAddress, type TrustFn } from '../core/net/trust-proxy.js';
import { releaseBody } from '../core/response-body.js';
import { sendResponse } from '../upstream/forwarder/forwarder.js';
import { upstreamRequestHeaders } from '../upstream/forwarder/headers.js';
import { type ErrorHandler, refusalError, renderError } from './error-response.js';
import { requestId } from './observability/request-id.js';
import { proxyTrace } from './observability/traceparent.js';
import type { RequestMeta } from './request-meta.js';
import type { RewriteFunction } from './rewrite.js';

/** What the request entry needs from the balancer. */
export interface RequestEntryDeps {
  readonly events: Events;
  readonly now: () => number;
  readonly trust: TrustFn;
  readonly meta: RequestMeta;
  /** Overall deadline from arrival to response headers, ms (`timeouts.total`). */
  readonly totalTimeout: number | undefined;
  /** The pipeline in force (it changes with `configure()`). */
  readonly run: (ctx: Context) => Promise<void>;
  /** True once the balancer is closing: new requests get 503 `ERR_CLOSED`. */
  readonly closed: () => boolean;
  /** The `rewrite` option, made into a step (it may throw `ERR_MIDDLEWARE`). */
  readonly rewrite?: RewriteFunction | undefined;
  /** The `onError` option. */
  readonly onError?: ErrorHandler | undefined;
}

/** Hands an error the balancer would answer itself to Express's `next()`. */
export type ForwardError = (error: unknown) => void;

/** The request entry: the `(req, res, url)` handler and the count of requests in flight. */
export interface RequestEntry {
  /**
   * Serves one request whose target is `url`; resolves when the response is
   * over. With `forward`, the errors the balancer would answer itself go there.
   */
  handle(req: IncomingMessage, res: ServerResponse, url: string, forward?: ForwardError): Promise<void>;
  /** Requests in flight now. */
  inflight(): number;
  /** Resolves when no request is in flight, or after `timeoutMs`. */
  quiet(timeoutMs: number): Promise<void>;
}

/**
 * A middleware before the balancer read the body (`express.json()`): send
 * the parsed body again, with its own Content-Length, or refuse at once:
 * the backend must never wait for bytes that will not come.
 */
function replayConsumedBody(ctx: Context, headers: Record<string, string | string[]>): void {
  const bytes = consumedBody(ctx.req);
  if (bytes === undefined) {
    throw makeError(
      'ERR_BODY_CONSUMED',
      'the request body was already read by a middleware mounted before the balancer, and is not JSON or form data it could send again: mount body parsers after the balancer, or only on the routes that need them',
    );
  }
  delete headers['transfer-encoding'];
  headers['content-length'] = String(bytes.length);
  ctx.requestBody = () =>
    new Readable({
      read() {
        this.push(bytes);
        this.push(null);
      },
    });
}

/**
 * A balancer error told to a gRPC client the way it reads errors: a
 * trailers-only answer, HTTP 200 with `grpc-status` and `grpc-message`
 * (`ERR_DEADLINE` → `DEADLINE_EXCEEDED`, 503 → `UNAVAILABLE`...), the error
 * code in `x-switchyard-error`.
 */
function grpcReply(ctx: Context, error: SwitchyardError): void {
  const status = error.code === 'ERR_DEADLINE' ? 504 : (error.status ?? 500);
  const grpcStatus = httpToGrpcStatus(status);
  ctx.reply(
    200,
    Buffer.alloc(0),
    {
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': grpcMessage(error.toClientJSON().error.message),
      'x-switchyard-error': error.code,
    },
    error.code,
  );
  const response = ctx.response as NonNullable<Context['response']>;
  // Trailers-only: no body, so no content-length either.
  delete response.headers['content-length'];
  response.grpcStatus = grpcStatus;
}

function toSwitchyardError(error: unknown): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  const name = error instanceof Error ? error.message : String(error);
  return makeError('ERR_MIDDLEWARE', `a middleware failed: ${name}`, error);
}

/**
 * Makes the request entry: builds the request's {@link Context} (client
 * address, deadline, request id, trace), runs the pipeline, writes the
 * response or a JSON error, and emits the `request` event when the response
 * is over.
 *
 * @example
 * ```ts
 * import { createRequestEntry } from './http.js';
 * declare const { trust, meta, run }: import('./http.js').RequestEntryDeps;
 * const entry = createRequestEntry({ events, now, trust, meta, totalTimeout: undefined, run, closed: () => false });
 * http.createServer((req, res) => entry.handle(req, res, req.url ?? '/'));
 * ```
 */
export function createRequestEntry(deps: RequestEntryDeps): RequestEntry {
  const { events, now, trust, meta, totalTimeout, run } = deps;
  let inflight = 0;
  let onQuiet: (() => void) | undefined;

  const { rewrite, onError } = deps;

  function sendError(ctx: Context, error: SwitchyardError, forward: ForwardError | undefined): void {
    const res = ctx.res;
    if (responseClosed(res)) {
      res.destroy();
      return;
    }
    if (isGrpc(ctx.req.headers)) grpcReply(ctx, error);
    else ctx.reply(error.status ?? 500, error.toClientJSON(), { 'cache-control': 'no-store' });
    meta.tagResponse(ctx);
    answer(ctx, error, forward);
  }

  /** Sends a response the balancer made (ctx.response): to Express's next(), through onError, or as is. */
  function answer(ctx: Context, error: SwitchyardError, forward: ForwardError | undefined): void {
    const response = ctx.response as PendingResponse;
    if (forward) {
      ctx.res.statusCode = response.status;
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined && name !== 'content-length' && name !== 'content-type') ctx.res.setHeader(name, value);
      }
      forward(error);
      return;
    }
    if (onError === undefined) {
      sendResponse(ctx.res, response, () => {});
      return;
    }
    renderError(onError, error, ctx.req, ctx.res, response)
      .then((sent) => {
        if (!sent && !ctx.res.destroyed) sendResponse(ctx.res, response, () => {});
      })
      .catch(() => ctx.res.destroy());
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: string, forward?: ForwardError): Promise<void> {
    const start = now();
    const clientAddress = resolveClientAddress(req, trust);
    // HTTP/2: `:authority` is the Host (RFC 9113 §8.3.1); a differing Host field is refused.
    const host = requestAuthority(req);
    const target =
      host === false
        ? 'Host differs from :authority'
        : req.httpVersionMajor !== 1 && !isHttp2(req)
          ? `HTTP/${req.httpVersion} is not an HTTP/1 version`
          : resolveTarget(url, host);
    let path = typeof target === 'string' ? '/' : target.path;
    let rewriteFailure: unknown;
    if (rewrite && typeof target !== 'string') {
      try {
        path = rewrite(path, req);
      } catch (error) {
        rewriteFailure = error;
      }
    }
    const ctx = new Context(req, res, path, clientAddress, start);
    if (typeof target !== 'string') ctx.authority = target.authority;
    if (totalTimeout !== undefined) ctx.deadline = start + totalTimeout;
    // A gRPC call's own deadline bounds the request like timeouts.total.
    const grpcTimeout = parseGrpcTimeout(req.headers['grpc-timeout']);
    // Capped at the longest timer Node keeps (a longer one would fire at once).
    if (grpcTimeout !== undefined) ctx.deadline = Math.min(ctx.deadline, start + Math.min(grpcTimeout, 2_147_483_647));
    if (meta.idHeader !== undefined) ctx.requestId = requestId(req.headers[meta.idHeader]);
    const trace = meta.tracing ? proxyTrace(req.headers.traceparent) : undefined;
    if (trace) {
      ctx.traceId = trace.traceId;
      ctx.spanId = trace.spanId;
    }
    inflight++;
    let errorCode: SwitchyardError['code'] | undefined;
    let resolve!: () => void;
    const finished = new Promise<void>((settle) => {
      resolve = settle;
    });
    // 'close' comes once: a plain listener, no once-wrapper per response.
    res.on('close', () => {
      inflight--;
      const upstream = ctx.upstreamBody;
      if (upstream !== undefined) releaseBody(upstream);
      if (inflight === 0 && onQuiet) onQuiet();
      if (events.has('request')) {
        const complete = responseFinished(res);
        const query = ctx.path.indexOf('?');
        // A body Node's parser rejected: the client got Node's own 400, not an abort.
        const malformed = !complete && clientParseError(req) !== undefined;
        const event: SwitchyardEvents['request'] = {
          method: ctx.method,
          host: ctx.authority,
          path: query === -1 ? ctx.path : ctx.path.slice(0, query),
          requestId: ctx.requestId,
          traceId: ctx.traceId,
          backend: ctx.backend?.id,
          status: complete ? res.statusCode : malformed ? 400 : 499,
          durationMs: now() - start,
          attempts: ctx.attempt,
        };
        // Set only when there is one (no object spread per request to leave them out).
        const error =
          errorCode ?? ctx.code ?? (complete ? undefined : malformed ? 'ERR_BAD_REQUEST' : 'ERR_CLIENT_ABORTED');
        if (error !== undefined) event.error = error;
        const grpcStatus = ctx.response?.grpcStatus;
        if (grpcStatus !== undefined) event.grpcStatus = grpcStatus;
        events.emit('request', event);
      }
      resolve();
    });
    try {
      if (deps.closed()) throw makeError('ERR_CLOSED', 'the load balancer is shutting down');
      if (rewriteFailure !== undefined) throw rewriteFailure;
      if (typeof target === 'string') throw makeError('ERR_BAD_REQUEST', target);
      const headers = upstreamRequestHeaders(req, meta.forwardingInfo(req, false, target.authority));
      if (headers instanceof SwitchyardError) throw headers;
      if (req.readableEnded && hasBody(req)) replayConsumedBody(ctx, headers);
      meta.stamp(headers, ctx.requestId, trace);
      ctx.upstreamHeaders = headers;
      await run(ctx);
      if (!ctx.response) throw makeError('ERR_INTERNAL', 'the pipeline finished without a response');
      meta.tagResponse(ctx);
      if (ctx.code !== undefined && ctx.response.status >= 400 && (onError || forward)) {
        // A refusal made by a stage (429, 403...): rendered like any error of the balancer's own.
        answer(ctx, refusalError(ctx.code, ctx.response), forward);
      } else {
        sendResponse(res, ctx.response, (error) => {
          errorCode = error instanceof SwitchyardError ? error.code : 'ERR_UPSTREAM_ABORTED';
        });
      }
    } catch (error) {
      const failure = toSwitchyardError(error);
      errorCode = failure.code;
      sendError(ctx, failure, forward);
    }
    return finished;
  }

  return {
    handle,
    inflight: () => inflight,
    async quiet(timeoutMs) {
      if (inflight === 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        onQuiet = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
