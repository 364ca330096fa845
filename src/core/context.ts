import { Buffer } from 'node:buffer';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Backend } from './backend.js';
import type { ErrorCode } from './errors.js';
import type { LazyBody } from './lazy-body.js';
import { clientGone, responseFinished } from './net/http2-compat.js';
import { normalizePath } from './net/request-target.js';
import type { SelectionContext } from './strategy.js';

/**
 * The typed bag middleware use to pass data along a request. Extend it by
 * declaration merging:
 *
 * @example
 * ```ts
 * declare module 'switchyard-lb' {
 *   interface SwitchyardState { tenant?: string }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: extended by users through declaration merging
export interface SwitchyardState {}

/** The response a request will get, not yet written to the client. */
export interface PendingResponse {
  status: number;
  statusMessage?: string;
  /** Headers to send; hop-by-hop headers are already removed. */
  headers: OutgoingHttpHeaders;
  /**
   * The body: a stream from the backend, or bytes made by the balancer.
   * The undici forwarder makes its stream on first read (an accessor): read
   * or set `body` itself, since `{ ...response }` does not copy it. Setting it
   * drops the backend's body; the balancer also drops one nothing read to its
   * end once the client exchange is over.
   */
  body: Readable | Buffer | undefined;
  /**
   * The `grpc-status` of a gRPC answer that failed: set with the headers for a
   * trailers-only answer (the backend failed the call before any message),
   * or when the trailers arrive, before the body's end, for a call that fails
   * after messages (`judgeGrpcTrailers`); unset for `OK` and non-gRPC answers.
   */
  grpcStatus?: number | undefined;
  /**
   * The status the breaker, outlier detection and retry judge, when it is not
   * {@link status}: a gRPC failure's HTTP equivalent (`UNAVAILABLE` → 503,
   * see `grpcToHttpStatus`), as its HTTP status is 200. Set with the headers
   * (trailers-only) or, like {@link grpcStatus}, when the trailers arrive:
   * read it once the body is over to get the exchange's outcome.
   */
  judgedStatus?: number | undefined;
}

/**
 * Per-request state carried through the pipeline.
 */
export class Context implements SelectionContext {
  /** The client request. */
  readonly req: IncomingMessage;
  /** The client response. Middleware normally set {@link response} instead of writing here. */
  readonly res: ServerResponse;
  /** Request method as sent. */
  readonly method: string;
  /** Request target as received (path and query, origin-form). */
  readonly path: string;
  /** Client address, resolved once through `trustProxy`. */
  readonly clientAddress: string;
  /** Balancer clock time the request arrived, in ms. */
  readonly startTime: number;
  /** Typed bag for middleware. */
  readonly state: SwitchyardState;
  /** Backends already tried by this request; `select` skips them. */
  readonly tried: Set<Backend>;
  /**
   * Backend `select` takes while it is eligible and not yet tried, instead of
   * asking the strategy: the sticky session's backend.
   */
  preferred: Backend | undefined;
  /** Backend chosen for the current attempt. */
  backend: Backend | undefined;
  /** 1 for the first try, 2 for the first retry, and so on. */
  attempt = 0;
  /** What the client will get, once known. */
  response: PendingResponse | undefined;
  /**
   * The streamed body of the latest upstream answer, as the forwarder gave it
   * (a stream, or a body not yet made into one). When the client exchange is
   * over, the balancer drops it if nothing read it to the end: a middleware
   * that replaced `response.body` does not leave the backend's connection busy.
   */
  upstreamBody: Readable | LazyBody | undefined;
  /** Code of a refusal the balancer answered itself through {@link reply}. */
  code: ErrorCode | undefined;
  /** Balancer clock time of the current attempt's selection, in ms. */
  now: number;
  /** Headers to send upstream, built once from the client's (hop-by-hop removed, forwarding set). */
  upstreamHeaders: Record<string, string | string[]> = {};
  /** Replays a buffered request body for another attempt; unset when the body streams from the client. */
  requestBody: (() => Readable) | undefined;
  /** Balancer clock time by which response headers must have arrived (`timeouts.total`); `Infinity` when none. */
  deadline = Number.POSITIVE_INFINITY;
  /** Request id sent upstream and to the client (`requestId` option); unset when that is off. */
  requestId: string | undefined;
  /** W3C trace id of this request (`tracing` option); unset when that is off. */
  traceId: string | undefined;
  /** Span id of the proxy hop, the backend's parent span (`tracing` option). */
  spanId: string | undefined;

  /**
   * The request's one effective authority, lower-cased: the absolute-form
   * target's when there is one (RFC 9112 §3.2.2), otherwise the validated
   * `Host`. The backend receives it (unless `preserveHost: false` sets the
   * backend's own), and the cache key, rate-limit keys, logs and events use it.
   * Empty when the client sent no Host (HTTP/1.0).
   */
  authority = '';

  #url: URL | undefined;
  #routePath: string | undefined;
  #abort: AbortController | undefined;
  readonly #parent: Context | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    clientAddress: string,
    now: number,
    parent?: Context,
  ) {
    this.req = req;
    this.res = res;
    this.method = req.method ?? 'GET';
    this.path = path;
    this.clientAddress = clientAddress;
    this.startTime = now;
    this.now = now;
    this.#parent = parent;
    if (parent) {
      this.state = parent.state;
      this.tried = parent.tried;
      this.upstreamHeaders = parent.upstreamHeaders;
      this.requestBody = parent.requestBody;
      this.deadline = parent.deadline;
      this.authority = parent.authority;
      this.attempt = parent.attempt;
      this.#url = parent.#url;
    } else {
      this.state = {};
      this.tried = new Set();
    }
  }

  /**
   * A context for one of several attempts running at once (hedging): it
   * shares the request, `state`, `tried`, headers, body and deadline, and has
   * its own `backend`, `attempt` and `response`. Its {@link signal} aborts
   * when the client leaves or when {@link cancel} is called.
   */
  fork(): Context {
    return new Context(this.req, this.res, this.path, this.clientAddress, this.startTime, this);
  }

  /** True for a context made by {@link fork}. */
  get forked(): boolean {
    return this.#parent !== undefined;
  }

  /** Cancels a forked attempt: its upstream request is destroyed and its backend released. No effect on the request's own context. */
  cancel(): void {
    if (!this.#parent) return;
    if (!this.#abort) void this.signal;
    this.#abort?.abort();
  }

  /**
   * The normalised path every path rule matches (cache exclusions, rate-limit
   * routes): no query, dot segments removed, `\` and encoded slashes read as
   * `/`, slashes merged (see `normalizePath` in `core/net/request-target.ts`). The backend still gets
   * {@link path} as the client sent it.
   */
  get routePath(): string {
    this.#routePath ??= normalizePath(this.path);
    return this.#routePath;
  }

  /**
   * The request URL, made on first use from {@link authority} (or
   * `localhost`), {@link routePath} and the query: never by parsing the raw
   * path against a base, where `//host/x` would read as an authority.
   */
  get url(): URL {
    if (!this.#url) {
      const query = this.path.indexOf('?');
      const search = query === -1 ? '' : this.path.slice(query);
      const href = `http://${this.authority || 'localhost'}${this.routePath}${search}`;
      // A valid authority WHATWG still refuses (`a%00b`) falls back to localhost.
      this.#url = URL.canParse(href) ? new URL(href) : new URL(`http://localhost${this.routePath}${search}`);
    }
    return this.#url;
  }

  /** Aborts when the client goes away before its response is complete (or, for a fork, when it is cancelled). */
  get signal(): AbortSignal {
    if (!this.#abort) {
      const controller = new AbortController();
      this.#abort = controller;
      const res = this.res;
      const parent = this.#parent?.signal;
      if (parent) {
        if (parent.aborted) controller.abort();
        else parent.addEventListener('abort', () => controller.abort(), { once: true });
      } else if (clientGone(res)) controller.abort();
      else
        res.once('close', () => {
          if (!responseFinished(res)) controller.abort();
        });
    }
    return this.#abort.signal;
  }

  /**
   * Ends the request with a response made here, e.g. a 429 or a cached entry.
   * `code` marks a refusal (`ERR_RATE_LIMITED`...): it shows as the `error`
   * of the `request` event, as a thrown error's code would.
   */
  reply(status: number, body: Buffer | string | object, headers: OutgoingHttpHeaders = {}, code?: ErrorCode): void {
    this.code = code;
    let bytes: Buffer;
    if (Buffer.isBuffer(body)) bytes = body;
    else if (typeof body === 'string') bytes = Buffer.from(body);
    else {
      bytes = Buffer.from(JSON.stringify(body));
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    headers['content-length'] = bytes.length;
    this.response = { status, headers, body: bytes };
  }
}
