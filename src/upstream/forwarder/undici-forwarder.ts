import type { Buffer } from 'node:buffer';
import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type https from 'node:https';
import type { Socket } from 'node:net';
import process from 'node:process';
import { type Duplex, PassThrough, Readable } from 'node:stream';
import { Client, type Dispatcher, errors, Pool } from 'undici';
import type { Backend } from '../../core/backend.js';
import type { Context, PendingResponse } from '../../core/context.js';
import { DeadlineList, type Due } from '../../core/deadline-list.js';
import { type BodyOutcome, classifyFailure, isIdleRace, onBodyOutcome } from '../../core/fault.js';
import { judgeGrpcTrailers } from '../../core/net/grpc.js';
import { clientGone, http2HasBody, isHttp2 } from '../../core/net/http2-compat.js';
import { kLazyBody, type LazyBody } from '../../core/response-body.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { attemptFailure, type FailedAttempt, unrelayableResponse } from './attempt-failure.js';
import { addTrailers, type Connector, Forwarder } from './forwarder.js';
import { stripResponseHeaders } from './headers.js';
import type { UpstreamProtocol } from './http2-upstream.js';
import type { ResolvedConnectionPoolOptions, ResolvedTimeoutsOptions } from './options.js';
import { type DirectBody, kSendTo, type UpstreamForwarder } from './upstream-forwarder.js';

/** The attempt a client response is waiting on, for the one `close` listener per response. */
const kAttempt = Symbol('switchyard.undiciAttempt');
type WatchedResponse = ServerResponse & { [kAttempt]?: UndiciAttempt | undefined };

function noop(): void {}

/** Marks a socket that has carried a request. */
const kUsed = Symbol('switchyard.socketUsed');

/** The attempt whose request undici is writing right now (set in onRequestStart, read in sendHeaders). */
let writing: UndiciAttempt | undefined;

/**
 * Whether a request goes out on a socket that carried one before: undici
 * tells no handler which socket it uses, but publishes it on this channel as
 * it writes the request head, synchronously after `onRequestStart`.
 */
diagnostics.subscribe('undici:client:sendHeaders', (message) => {
  const attempt = writing;
  writing = undefined;
  const socket = (message as { socket?: Socket & { [kUsed]?: boolean } }).socket;
  if (!attempt || !socket) return;
  attempt.reusedSocket = socket[kUsed] === true;
  socket[kUsed] = true;
});

/** Client requests whose last attempt met the idle-socket race: their next attempt takes a fresh connection. */
const raced = new WeakSet<IncomingMessage>();

/** How each pool was made, for the one-off connection of a retry after an idle-socket race. */
const poolSettings = new WeakMap<Dispatcher, { origin: string; options: Client.Options }>();

/** Upstream error codes that mean the backend's bytes were not valid HTTP. */
const PROTOCOL_ERRORS = new Set(['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_HEADERS_OVERFLOW']);

/** Bytes of a lazy body buffered before the client response takes it; then the upstream socket pauses. */
const LAZY_HIGH_WATER = 64 * 1024;

/**
 * The response body as a stream, made only when something reads
 * `response.body` (see {@link UndiciResponse}): undici pushes chunks in, and
 * reading resumes the paused upstream socket (backpressure both ways).
 * `rawTrailers` mirrors `IncomingMessage`'s, so `sendResponse` forwards them.
 */
class UpstreamBody extends Readable implements DirectBody {
  readonly #attempt: UndiciAttempt;

  constructor(attempt: UndiciAttempt) {
    super();
    this.#attempt = attempt;
    // undici may fail the body in the same tick as its headers, before the
    // pipeline has attached its listener: the failure must not be unhandled.
    this.on('error', noop);
  }

  override _read(): void {
    this.#attempt.controller?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const attempt = this.#attempt;
    // The reader left (client gone, cache discarded it...): stop the upstream exchange.
    if (!attempt.done) {
      attempt.aborted = true;
      attempt.controller?.abort(error ?? new Error('response body destroyed'));
    }
    attempt.finish();
    callback(error);
  }

  /** Trailer fields as `[name, value, ...]` (the attempt's, known before the end is pushed). */
  get rawTrailers(): string[] {
    return this.#attempt.trailers as string[];
  }

  /** Writes what is buffered, then every further chunk, straight to `res`. */
  [kSendTo](res: ServerResponse, onBodyError: (error: Error) => void): void {
    let chunk: Buffer | null;
    // biome-ignore lint/suspicious/noAssignInExpressions: drain loop
    while ((chunk = this.read() as Buffer | null) !== null) res.write(chunk);
    const attempt = this.#attempt;
    if (attempt.ended) {
      endSink(attempt.trailers, res);
      this.read(0);
      return;
    }
    attempt.attachSink(res, onBodyError);
  }
}

/**
 * The response the undici forwarder hands the pipeline. Its `body` is an
 * accessor: the balancer's own stages send, watch and discard the body
 * through {@link kLazyBody} without a stream, and the stream is made only
 * for code that reads `response.body` (a cache, a user's middleware). Setting
 * `body` replaces the upstream body (which is then dropped). Like any
 * accessor, it is not copied by `{ ...response }`: copy `body` explicitly.
 */
class UndiciResponse implements PendingResponse {
  status: number;
  statusMessage?: string;
  headers: PendingResponse['headers'];
  grpcStatus?: number | undefined;
  judgedStatus?: number | undefined;
  [kLazyBody]: UndiciAttempt | undefined;
  #body: Readable | Buffer | undefined = undefined;

  constructor(attempt: UndiciAttempt, status: number, headers: PendingResponse['headers']) {
    this.status = status;
    this.headers = headers;
    this[kLazyBody] = attempt;
  }

  get body(): Readable | Buffer | undefined {
    const lazy = this[kLazyBody];
    if (lazy !== undefined) {
      this[kLazyBody] = undefined;
      this.#body = lazy.materialize();
    }
    return this.#body;
  }

  set body(value: Readable | Buffer | undefined) {
    const lazy = this[kLazyBody];
    this[kLazyBody] = undefined;
    // The upstream body is not wanted any more.
    lazy?.discard();
    this.#body = value;
  }
}

function endSink(raw: readonly string[], res: ServerResponse): void {
  addTrailers(res, raw);
  res.end();
}

/** The client left while the body was streaming to it directly: stop the upstream exchange. */
function onSinkClose(attempt: UndiciAttempt, res: ServerResponse): void {
  if (!attempt.done && clientGone(res)) {
    attempt.aborted = true;
    attempt.controller?.abort(new Error('client closed the connection'));
    // Abandoned, not failed: nobody's fault (see onBodyOutcome).
    if (attempt.body) attempt.body.destroy();
    else attempt.settleBody('abandoned');
    attempt.finish();
  }
}

function onSinkDrain(this: WatchedResponse): void {
  const attempt = this[kAttempt] ?? undefined;
  attempt?.controller?.resume();
}

const NO_TRAILERS: readonly string[] = [];

/** One upstream attempt on undici: the dispatch handler and the state the classification needs. */
class UndiciAttempt implements Dispatcher.DispatchHandler, LazyBody, Due {
  readonly ctx: Context;
  readonly backend: Backend;
  readonly forwarder: UndiciForwarder;
  readonly started: number;
  resolve!: () => void;
  reject!: (error: UpstreamError) => void;
  controller: Dispatcher.DispatchController | undefined;
  /** The body as a stream, once something read `response.body`. */
  body: UpstreamBody | undefined;
  /** The response handed to the pipeline (its gRPC trailers are judged at the end). */
  response: UndiciResponse | undefined;
  /** Chunks that came before the body had a reader (neither a stream nor the client response yet). */
  pending: Buffer[] | undefined;
  pendingBytes = 0;
  /** The client response the body writes to directly (see `sendTo`). */
  sink: ServerResponse | undefined;
  onSinkError: ((error: Error) => void) | undefined;
  /** The whole body (and its trailers) came from upstream. */
  ended = false;
  /** Trailer fields as `[name, value, ...]`. */
  trailers: readonly string[] = NO_TRAILERS;
  /** The backend broke the body off (while no stream existed). */
  bodyError: Error | undefined;
  /** Who waits for the lazy body's outcome. */
  watchers: Array<(outcome: BodyOutcome, error?: Error) => void> | undefined;
  /** The lazy body's outcome, once known. */
  outcome: BodyOutcome | undefined;
  /** A timeout cut short by the request's deadline (the rare case: see `arm`). */
  timer: NodeJS.Timeout | undefined;
  // The attempt's place in its forwarder's DeadlineList of the armed timeout.
  dueAt = 0;
  dueNext: Due | undefined = undefined;
  duePrev: Due | undefined = undefined;
  dueList: DeadlineList<UndiciAttempt> | undefined = undefined;
  phase: 'connect' | 'response' = 'connect';
  timedOut: 'connect' | 'response' | 'deadline' | undefined;
  byDeadline = false;
  cancelled = false;
  /** undici handed the request to a connection. */
  connected = false;
  /** Response headers arrived or the attempt failed. */
  settled = false;
  /** The upstream exchange is over (body ended or failed). */
  done = false;
  released = false;
  /** The client's request body failed (aborted, malformed): the client's fault, not the backend's. */
  clientBodyError: Error | undefined;
  /** The request went out on a pooled socket that carried an earlier request. */
  reusedSocket = false;
  /** This side stopped the exchange (the reader left): the error undici reports next is not the backend's. */
  aborted = false;
  /** A one-off connection for the retry after an idle-socket race, closed when this attempt is over. */
  fresh: Client | undefined;

  constructor(ctx: Context, backend: Backend, forwarder: UndiciForwarder) {
    this.ctx = ctx;
    this.backend = backend;
    this.forwarder = forwarder;
    this.started = forwarder.now();
  }

  arm(phase: 'connect' | 'response'): void {
    this.phase = phase;
    const timeouts = this.forwarder.timeouts;
    let ms = phase === 'connect' ? timeouts.connect : timeouts.response;
    const deadline = this.ctx.deadline;
    this.byDeadline = false;
    if (deadline !== Number.POSITIVE_INFINITY) {
      const left = deadline - this.forwarder.now();
      if (left < ms) {
        ms = Math.max(left, 0);
        this.byDeadline = true;
      }
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // The configured timeout: one shared timer per duration. One the deadline cut short: its own.
    if (this.byDeadline) {
      this.dueList?.remove(this);
      this.timer = setTimeout(onAttemptTimeout, ms, this);
    } else this.forwarder.deadlines(ms).add(this);
  }

  disarm(): void {
    this.dueList?.remove(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Releases the backend slot once, however the exchange ended. */
  finish(): void {
    this.done = true;
    if (this.released) return;
    this.released = true;
    this.backend.release();
    if (this.fresh) void this.fresh.close().catch(noop);
  }

  fail(error: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.done = true;
    this.disarm();
    // Only the backend's own failures count against it: not a client that left, a lost hedge or the idle race.
    if (classifyFailure(error) === 'backend') {
      this.backend.record(false, -1);
      if (error.reason === 'timeout')
        this.backend.limiter?.sample(this.forwarder.now() - this.started, this.backend.active, true);
    }
    this.aborted = true;
    this.controller?.abort(error);
    this.finish();
    this.reject(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) {
      controller.abort(new Error('attempt already over'));
      return;
    }
    this.connected = true;
    writing = this;
    this.arm('response');
  }

  onRequestSent(): void {
    // The response timeout counts from the end of the request body.
    if (!this.settled && !this.byDeadline) this.dueList?.add(this);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    if (this.settled) {
      controller.abort(new Error('attempt already over'));
      return;
    }
    // An interim answer (102 Processing, 103 Early Hints): the final one follows on the same
    // exchange, under the same timeouts. Dropped, as the http-proxy-3 forwarder does.
    if (statusCode >= 100 && statusCode < 200) return;
    const unrelayable = unrelayableResponse(this.backend.id, statusCode, statusMessage);
    if (unrelayable !== undefined) {
      this.fail(unrelayable);
      return;
    }
    this.settled = true;
    this.disarm();
    const backend = this.backend;
    backend.record(statusCode < 500, this.forwarder.now() - this.started);
    const response = new UndiciResponse(this, statusCode, stripResponseHeaders(headers, this.forwarder.via, '1.1'));
    if (statusMessage) response.statusMessage = statusMessage;
    this.response = response;
    this.ctx.response = response;
    this.resolve();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const sink = this.sink;
    if (sink !== undefined) {
      if (!sink.write(chunk)) {
        controller.pause();
        if (this.ctx.forked) sink.once('drain', () => controller.resume());
        else sink.once('drain', onSinkDrain);
      }
      return;
    }
    const body = this.body;
    if (body !== undefined) {
      if (!body.destroyed && !body.push(chunk)) controller.pause();
      return;
    }
    if (this.outcome !== undefined) return;
    if (this.pending === undefined) this.pending = [chunk];
    else this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= LAZY_HIGH_WATER) controller.pause();
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    this.done = true;
    const raw = controller.rawTrailers;
    if (Array.isArray(raw) && raw.length > 0) {
      const trailers: string[] = [];
      for (const item of raw) trailers.push(typeof item === 'string' ? item : item.toString('latin1'));
      this.trailers = trailers;
      // A gRPC status in the trailers is the exchange's outcome (see judgeGrpcTrailers).
      if (this.response && (judgeGrpcTrailers(this.response, trailers) ?? 0) >= 500) this.backend.record(false, -1);
    }
    this.ended = true;
    const body = this.body;
    const sink = this.sink;
    if (body !== undefined) {
      if (!body.destroyed) {
        body.push(null);
        if (sink) {
          endSink(this.trailers, sink);
          // Nobody reads the stream itself: let it emit 'end' for those who watch it.
          body.read(0);
        }
      }
    } else if (sink !== undefined) {
      endSink(this.trailers, sink);
      this.settleBody('complete');
    }
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error & { code?: string }): void {
    if (!this.settled) {
      this.forwarder.failAttempt(this, error);
      return;
    }
    this.done = true;
    const body = this.body;
    const backend = this.backend;
    // Failed before its response (fail() aborted it), or stopped by this side: not a body failure.
    if (this.aborted || this.response === undefined) {
      this.finish();
      return;
    }
    // A body the backend breaks off is its failure (the stats see it; the forward stage reports it).
    backend.record(false, -1);
    const failure =
      error.code === 'UND_ERR_BODY_TIMEOUT'
        ? new UpstreamError(
            'ERR_UPSTREAM_TIMEOUT',
            `backend ${backend.id} stalled for ${this.forwarder.timeouts.idle} ms mid-body`,
            backend.id,
            'timeout',
            false,
            error,
          )
        : error;
    const sink = this.sink;
    if (sink && !sink.destroyed) {
      // Headers are gone: the only honest signal left is to cut the connection.
      this.onSinkError?.(failure);
      sink.destroy();
    }
    if (body !== undefined) {
      if (!body.destroyed) body.destroy(failure);
    } else {
      this.bodyError = failure;
      this.pending = undefined;
      this.settleBody('failed', failure);
    }
    this.finish();
  }

  /** The body as a stream, for code that reads `response.body`: what came so far, then the rest. */
  materialize(): UpstreamBody {
    const body = new UpstreamBody(this);
    this.body = body;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) for (const chunk of pending) body.push(chunk);
    const watchers = this.watchers;
    this.watchers = undefined;
    if (this.bodyError !== undefined) body.destroy(this.bodyError);
    else if (this.ended) body.push(null);
    else if (this.outcome !== undefined) {
      // Discarded, or its client left: nothing more will come.
      body.destroy();
    }
    if (watchers) for (const done of watchers) onBodyOutcome(body, done);
    if (this.pendingBytes >= LAZY_HIGH_WATER && !this.done) this.controller?.resume();
    return body;
  }

  /** Streams the body to the client response `res` and ends it (see {@link LazyBody}). */
  sendTo(res: ServerResponse, onBodyError: (error: Error) => void): void {
    if (this.response) this.response[kLazyBody] = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (this.bodyError !== undefined) {
      onBodyError(this.bodyError);
      res.destroy();
      return;
    }
    if (this.outcome !== undefined) {
      // Discarded before it was sent: there is no body to give.
      onBodyError(new Error('upstream body discarded'));
      res.destroy();
      return;
    }
    if (pending !== undefined) for (const chunk of pending) res.write(chunk);
    if (this.ended) {
      endSink(this.trailers, res);
      this.settleBody('complete');
      return;
    }
    this.attachSink(res, onBodyError);
    if (this.pendingBytes >= LAZY_HIGH_WATER) this.controller?.resume();
  }

  /** From now on, chunks go straight to `res`; the client leaving stops the exchange. */
  attachSink(res: ServerResponse, onBodyError: (error: Error) => void): void {
    this.sink = res;
    this.onSinkError = onBodyError;
    // A hedged attempt has no client-close listener of its own (see forward()).
    if (this.ctx.forked) res.once('close', () => onSinkClose(this, res));
    else (res as WatchedResponse)[kAttempt] = this;
  }

  watch(done: (outcome: BodyOutcome, error?: Error) => void): void {
    if (this.outcome !== undefined) done(this.outcome, this.bodyError);
    else if (this.watchers === undefined) this.watchers = [done];
    else this.watchers.push(done);
  }

  discard(): void {
    if (this.response) this.response[kLazyBody] = undefined;
    this.pending = undefined;
    if (!this.done) {
      this.aborted = true;
      this.controller?.abort(new Error('response body destroyed'));
    }
    this.settleBody('abandoned');
    this.finish();
  }

  release(): void {
    const body = this.body;
    if (body !== undefined) {
      if (!body.readableEnded && !body.destroyed) body.destroy();
    } else if (this.sink === undefined && this.outcome === undefined) this.discard();
  }

  /** The lazy body's outcome is known: tells who waits, once. */
  settleBody(outcome: BodyOutcome, error?: Error): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    const watchers = this.watchers;
    this.watchers = undefined;
    if (watchers !== undefined) for (const done of watchers) done(outcome, error);
  }
}

function onAttemptTimeout(attempt: UndiciAttempt): void {
  attempt.timer = undefined;
  attempt.timedOut = attempt.byDeadline ? 'deadline' : attempt.phase;
  attempt.forwarder.failAttempt(attempt, new Error('timed out'));
}

function cancelAttempt(attempt: UndiciAttempt): void {
  if (attempt.settled) return;
  attempt.cancelled = true;
  attempt.forwarder.failAttempt(attempt, new Error('attempt cancelled'));
}

/** The client left: the attempt it was waiting on stops (its upstream request is aborted). */
function onClientClose(this: WatchedResponse): void {
  const attempt = this[kAttempt];
  this[kAttempt] = undefined;
  if (!attempt || !clientGone(this)) return;
  if (!attempt.settled) attempt.forwarder.failAttempt(attempt, new Error('client closed the connection'));
  else if (attempt.sink === this) onSinkClose(attempt, this);
}

/**
 * A connector for undici from a backend's own transport (`createConnection`,
 * e.g. the in-memory backends of `switchyard/testing`): hands undici the
 * socket once it is connected, or the error of a refused one.
 */
function toUndiciConnector(connect: Connector): NonNullable<Pool.Options['connect']> {
  return (_options, callback) => {
    let socket: Duplex;
    try {
      socket = connect({});
    } catch (error) {
      process.nextTick(callback, error as Error, null);
      return;
    }
    if ((socket as { connecting?: boolean }).connecting) {
      const onError = (error: Error) => callback(error, null);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        callback(null, socket as Socket);
      });
      return;
    }
    // Never synchronously: undici ignores a connection that arrives while it is still in its resume loop.
    process.nextTick(callback, null, socket as Socket);
  };
}

/** Path sent upstream: the backend URL's path prefixed, queries merged (as http-proxy-3 joins them). */
function upstreamPath(target: URL, path: string): string {
  const prefix = target.pathname;
  const search = target.search;
  if ((prefix === '/' || prefix === '') && search === '') return path;
  const q = path.indexOf('?');
  const own = q === -1 ? path : path.slice(0, q);
  const query = [search.slice(1), q === -1 ? '' : path.slice(q + 1)].filter(Boolean).join('&');
  const joined = prefix.endsWith('/') && own.startsWith('/') ? prefix + own.slice(1) : prefix + own;
  return query ? `${joined}?${query}` : joined;
}

/**
 * Sends requests upstream with an undici `Pool` per backend, streaming both
 * ways through a dispatch handler (no buffering), under the same rules as the
 * http-proxy-3 {@link Forwarder}: the same headers (built by the pipeline),
 * timeouts owned here (connect, response, request deadline; the idle
 * timeout is undici's `bodyTimeout`), the same error classification and the
 * idle-socket flag the retry stage reads. WebSocket upgrades and chunked
 * request bodies (undici cannot send request trailers) go through an inner
 * http-proxy-3 forwarder.
 */
export class UndiciForwarder implements UpstreamForwarder {
  readonly name = 'undici';
  readonly timeouts: ResolvedTimeoutsOptions;
  readonly now: () => number;
  readonly via: string | false;
  readonly #fallback: Forwarder;
  /** The attempts waiting on each timeout duration (connect, response), one timer each. */
  readonly #deadlines = new Map<number, DeadlineList<UndiciAttempt>>();

  constructor(options: { timeouts: ResolvedTimeoutsOptions; via: string | false; now: () => number }) {
    this.timeouts = options.timeouts;
    this.now = options.now;
    this.via = options.via;
    this.#fallback = new Forwarder(options);
  }

  /**
   * The keep-alive agent upgrades and chunked uploads use; for an HTTP/2
   * backend it holds the backend's HTTP/2 sessions too.
   */
  createAgent(
    url: URL,
    pool: ResolvedConnectionPoolOptions,
    connect: Connector | undefined,
    tls?: https.AgentOptions,
    protocol: UpstreamProtocol = 'http/1.1',
  ): http.Agent {
    return this.#fallback.createAgent(url, pool, connect, tls, protocol);
  }

  /**
   * The undici pool for one backend; none for a backend whose `protocol` is
   * not `http/1.1`: its requests take the HTTP/2 upstream path (`forwardHttp2`,
   * through the inner forwarder, which also handles `auto` falling back to HTTP/1.1).
   */
  createDispatcher(
    url: URL,
    pool: ResolvedConnectionPoolOptions,
    connect: Connector | undefined,
    tls?: https.AgentOptions,
    protocol: UpstreamProtocol = 'http/1.1',
  ): Pool | undefined {
    if (protocol !== 'http/1.1') return undefined;
    const options = {
      connections: pool.maxSockets,
      pipelining: 1,
      // Idle connections close before the backend's keep-alive timeout can race a request.
      keepAliveTimeout: pool.idleTimeout,
      keepAliveMaxTimeout: pool.idleTimeout,
      // The forwarder owns the response timeout (deadline included); the idle one is undici's.
      headersTimeout: 0,
      bodyTimeout: this.timeouts.idle,
      connect: connect
        ? toUndiciConnector(connect)
        : { timeout: this.timeouts.connect, ...(url.protocol === 'https:' ? tls : undefined) },
    } satisfies Pool.Options;
    const created = new Pool(url.origin, options);
    poolSettings.set(created, { origin: url.origin, options: { ...options, pipelining: 1 } });
    return created;
  }

  forward(ctx: Context, backend: Backend, headers: Record<string, string | string[]>, body?: Readable): Promise<void> {
    const req = ctx.req;
    const dispatcher = backend.dispatcher;
    // Request trailers ride only on Node's client: chunked uploads take the
    // http-proxy-3 path, and so does an HTTP/2 request with a body (its
    // trailers come at the stream's end whatever its framing upstream).
    // HTTP/2 backends have no dispatcher: the HTTP/2 upstream path.
    if (
      dispatcher === undefined ||
      req.headers['transfer-encoding'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      (isHttp2(req) && http2HasBody(req))
    ) {
      return this.#fallback.forward(ctx, backend, headers, body);
    }
    const attempt = new UndiciAttempt(ctx, backend, this);
    const promise = new Promise<void>((resolve, reject) => {
      attempt.resolve = resolve;
      attempt.reject = reject;
    });
    backend.begin();
    if (ctx.forked) {
      const signal = ctx.signal;
      if (signal.aborted) {
        cancelAttempt(attempt);
        return promise;
      }
      signal.addEventListener('abort', () => cancelAttempt(attempt), { once: true });
    } else {
      const res = ctx.res as WatchedResponse;
      if (clientGone(res)) {
        this.failAttempt(attempt, new Error('client closed the connection'));
        return promise;
      }
      // 'close' comes once: a plain listener, no once-wrapper per response.
      if (!(kAttempt in res)) res.on('close', onClientClose);
      res[kAttempt] = attempt;
    }
    let upload: Readable | null = null;
    const length = req.headers['content-length'];
    if (body !== undefined) upload = body;
    else if (length !== undefined && length !== '0') upload = guard(req, attempt);
    let target: Dispatcher = dispatcher;
    if (raced.delete(req)) {
      // The retry after an idle-socket race goes out on a new connection, never on another pooled one.
      const settings = poolSettings.get(dispatcher);
      if (settings) {
        attempt.fresh = new Client(settings.origin, settings.options);
        target = attempt.fresh;
      }
    }
    try {
      target.dispatch(
        {
          path: upstreamPath(backend.target, ctx.path),
          method: ctx.method,
          headers,
          body: upload,
        },
        attempt,
      );
    } catch (error) {
      this.failAttempt(attempt, error as Error);
      return promise;
    }
    // A pooled connection free now takes the request within dispatch(): onRequestStart has
    // armed the response timeout already, and a connect timer would only be made to be cleared.
    if (!attempt.connected && !attempt.settled) attempt.arm('connect');
    return promise;
  }

  /** The list of attempts that time out after `ms`. */
  deadlines(ms: number): DeadlineList<UndiciAttempt> {
    let list = this.#deadlines.get(ms);
    if (list === undefined) {
      list = new DeadlineList(ms, onAttemptTimeout);
      this.#deadlines.set(ms, list);
    }
    return list;
  }

  /** Classifies a failure of `attempt` and rejects its promise. */
  failAttempt(attempt: UndiciAttempt, error: Error & { code?: string }): void {
    if (attempt.settled) return;
    const code = error.code;
    const state: FailedAttempt = {
      backend: attempt.backend.id,
      req: attempt.ctx.req,
      res: attempt.ctx.res,
      reused: attempt.reusedSocket,
      clientBodyError: attempt.clientBodyError,
      cancelled: attempt.cancelled,
      timedOut: attempt.timedOut,
      connected: attempt.connected,
    };
    const failure = attemptFailure(state, error, this.timeouts, {
      connectTimeout: code === 'UND_ERR_CONNECT_TIMEOUT',
      protocol:
        error instanceof errors.HTTPParserError ||
        (code !== undefined && PROTOCOL_ERRORS.has(code)) ||
        (code === 'UND_ERR_SOCKET' && error.message.startsWith('bad ')),
    });
    attempt.clientBodyError = state.clientBodyError;
    if (isIdleRace(failure)) raced.add(attempt.ctx.req);
    attempt.fail(failure);
  }

  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void {
    this.#fallback.upgrade(req, socket, head, backend, headers, path, onDone);
  }

  upgradeStream(
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void {
    this.#fallback.upgradeStream(req, res, backend, headers, path, onDone);
  }

  close(): void {
    for (const list of this.#deadlines.values()) list.clear();
    this.#fallback.close();
  }
}

/**
 * The client's body as undici's upload: a pass-through, so that undici
 * destroying its body on an upstream failure does not destroy the client's
 * request (and its socket) before the client gets its 502.
 */
function guard(req: IncomingMessage, attempt: UndiciAttempt): Readable {
  const pass = new PassThrough();
  // undici destroys its upload with the upstream's error; the client's side is handled here.
  pass.on('error', noop);
  const clientFailed = (error: Error) => {
    pass.destroy();
    if (attempt.settled) return;
    // Node reports a body its parser rejected as 'aborted'; the parser's error is on the socket.
    const parse = (req.socket as { errored?: Error | null } | null)?.errored;
    attempt.clientBodyError = (parse as { code?: string } | null | undefined)?.code?.startsWith('HPE_')
      ? (parse as Error)
      : error;
    attempt.forwarder.failAttempt(attempt, attempt.clientBodyError);
  };
  req.once('error', clientFailed);
  req.once('close', () => {
    if (!req.complete) clientFailed(new Error('client request aborted'));
  });
  req.pipe(pass);
  return pass;
}
