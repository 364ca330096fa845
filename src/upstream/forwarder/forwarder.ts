import { Buffer } from 'node:buffer';
import http, { type ClientRequest, IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import https from 'node:https';
import type { Socket } from 'node:net';
import process from 'node:process';
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import { createProxyServer, type ProxyServer, type ServerOptions } from 'http-proxy-3';
import type { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import { classifyFailure, isIdleRace, onBodyOutcome } from '../../core/fault.js';
import { clientParseError } from '../../core/net/client-error.js';
import { judgeGrpcTrailers } from '../../core/net/grpc.js';
import { clientGone, isHttp2 } from '../../core/net/http2-compat.js';
import { lazyBody } from '../../core/response-body.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { dropWebPass } from '../../vendor/http-proxy-3.js';
import { attemptFailure, type FailedAttempt, unrelayableResponse } from './attempt-failure.js';
import { clientResponseHeaders } from './headers.js';
import { attachHttp2, forwardHttp2, Http2Sessions, http2SessionsOf, type UpstreamProtocol } from './http2-upstream.js';
import type { ResolvedConnectionPoolOptions, ResolvedTimeoutsOptions } from './options.js';
import { type TunnelOptions, tunnel } from './upgrade.js';
import { tunnelStream } from './upgrade-h2.js';
import { type DirectBody, kSendTo, type UpstreamForwarder } from './upstream-forwarder.js';

/**
 * Streams `from` (the client request or its buffered replay) into a pass-through
 * the proxy pipes upstream, holding its end until the upstream request exists,
 * so the client's trailer fields can be added before the last chunk goes out.
 */
function withTrailers(attempt: Attempt, from: Readable): Readable {
  const pass = new PassThrough();
  const req = attempt.ctx.req;
  from.pipe(pass, { end: false });
  // forward() fails the attempt on the client request's own error; the
  // pass-through only has to stop, without an 'error' nobody listens to.
  from.once('error', () => pass.destroy());
  from.once('close', () => {
    if (!from.readableEnded) pass.destroy();
  });
  from.once('end', () => {
    const finish = () => {
      attempt.onProxyReq = undefined;
      const raw = req.rawTrailers;
      const proxyReq = attempt.proxyReq;
      if (raw.length > 0 && proxyReq && !attempt.settled) {
        const trailers: Array<[string, string]> = [];
        for (let i = 0; i < raw.length; i += 2) trailers.push([raw[i] as string, raw[i + 1] as string]);
        proxyReq.addTrailers(trailers);
      }
      pass.end();
    };
    if (attempt.proxyReq) finish();
    else attempt.onProxyReq = finish;
  });
  return pass;
}

/**
 * What http-proxy-3 reads of the request, made apart from the client's own
 * request: the client's object is never written to (an HTTP/2 compatibility
 * request's `headers` cannot even be), and HTTP/2 pseudo-headers never reach
 * the proxy. The body always comes through `buffer`, so the view is never piped.
 * It also carries its attempt: the proxy's `proxyReq` and `proxyRes` events
 * hand the view back, so no listener per request is needed to find it.
 */
class ProxyView {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly httpVersion = '1.1';
  readonly socket: Socket;
  readonly connection: Socket;
  readonly attempt: Attempt;
  readonly #req: IncomingMessage;

  constructor(attempt: Attempt, method: string, url: string, headers: Record<string, string | string[]>) {
    const req = attempt.ctx.req;
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.socket = req.socket;
    this.connection = req.socket;
    this.attempt = attempt;
    this.#req = req;
  }

  /** The proxy's listeners (its `error` one) go on the client's request. */
  on(event: string, listener: (...args: unknown[]) => void): this {
    this.#req.on(event, listener);
    return this;
  }
}

/** The attempt a request the proxy hands back belongs to (its {@link ProxyView}). */
function attemptOf(req: unknown): Attempt | undefined {
  return req instanceof ProxyView ? req.attempt : undefined;
}

/** Creates a connection for an agent: TCP/TLS by default, or the backend's own transport. */
export type Connector = (options: object) => Duplex;

function createAgent(
  url: URL,
  pool: ResolvedConnectionPoolOptions,
  connect: Connector | undefined,
  tls?: https.AgentOptions,
): http.Agent {
  const options: https.AgentOptions = {
    ...(url.protocol === 'https:' ? tls : undefined),
    keepAlive: true,
    maxSockets: pool.maxSockets,
    maxFreeSockets: pool.maxFreeSockets,
    // Idle pooled sockets close before the backend's keep-alive timeout can race a request.
    timeout: pool.idleTimeout,
    scheduling: 'lifo',
  };
  const Base = url.protocol === 'https:' ? https.Agent : http.Agent;
  if (!connect) return new Base(options);
  const agent = new Base(options);
  // The backend brings its own transport (an in-memory duplex, a unix socket...).
  (agent as unknown as { createConnection: Connector }).createConnection = connect;
  return agent;
}

/**
 * For each pooled agent, a twin that never reuses a socket, sharing its
 * transport: the retry after an idle-socket race goes out on it, so it cannot
 * meet another pooled socket the backend is closing (with LIFO scheduling the
 * next free socket is the one most likely to race).
 */
const freshAgents = new WeakMap<http.Agent, http.Agent>();

function freshAgent(pooled: http.Agent): http.Agent {
  let fresh = freshAgents.get(pooled);
  if (!fresh) {
    fresh =
      pooled instanceof https.Agent
        ? // The twin keeps the backend's TLS settings (CA, client certificate, servername).
          new https.Agent({ ...(pooled as https.Agent & { options: https.AgentOptions }).options, keepAlive: false })
        : new http.Agent({ keepAlive: false });
    const connect = (pooled as unknown as { createConnection: Connector }).createConnection.bind(pooled);
    (fresh as unknown as { createConnection: Connector }).createConnection = connect;
    freshAgents.set(pooled, fresh);
  }
  return fresh;
}

/**
 * Whether a backend's URL has no path or query of its own. For those,
 * http-proxy-3's `prependPath` would parse `/` into a URL on every request
 * only to prepend `/`: turning it off sends the very same path, unparsed.
 */
const rootTargets = new WeakMap<URL, boolean>();

function isRootTarget(target: URL): boolean {
  let root = rootTargets.get(target);
  if (root === undefined) {
    root = target.pathname === '/' && target.search === '';
    rootTargets.set(target, root);
  }
  return root;
}

/** Client requests whose last attempt met the idle-socket race: their next attempt takes a fresh connection. */
const raced = new WeakSet<IncomingMessage>();

/** Per-attempt state; found again from proxy events through the request's {@link ProxyView}. */
class Attempt {
  readonly ctx: Context;
  readonly backend: Backend;
  readonly forwarder: Forwarder;
  readonly started: number;
  resolve!: () => void;
  reject!: (error: UpstreamError) => void;
  proxyReq: ClientRequest | undefined;
  timer: NodeJS.Timeout | undefined;
  phase: 'connect' | 'response' = 'connect';
  timedOut: 'connect' | 'response' | 'deadline' | undefined;
  /** The current timer is the request's deadline, shorter than the phase's timeout. */
  byDeadline = false;
  /** Cancelled by the pipeline (a hedge that lost), not failed. */
  cancelled = false;
  connected = false;
  settled = false;
  /** The client's request body failed (aborted, malformed): the client's fault, not the backend's. */
  clientBodyError: Error | undefined;
  /** Runs once the upstream request exists (trailers wait for it). */
  onProxyReq: (() => void) | undefined;

  constructor(ctx: Context, backend: Backend, forwarder: Forwarder) {
    this.ctx = ctx;
    this.backend = backend;
    this.forwarder = forwarder;
    this.started = forwarder.now();
  }

  arm(phase: 'connect' | 'response'): void {
    this.phase = phase;
    if (this.timer) clearTimeout(this.timer);
    let ms = phase === 'connect' ? this.forwarder.timeouts.connect : this.forwarder.timeouts.response;
    const deadline = this.ctx.deadline;
    this.byDeadline = false;
    if (deadline !== Number.POSITIVE_INFINITY) {
      const left = deadline - this.forwarder.now();
      if (left < ms) {
        ms = Math.max(left, 0);
        this.byDeadline = true;
      }
    }
    this.timer = setTimeout(onAttemptTimeout, ms, this);
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  fail(error: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.disarm();
    // Only the backend's own failures count against it: not a client that left, a lost hedge or the idle race.
    if (classifyFailure(error) === 'backend') {
      this.backend.record(false, -1);
      // A timeout is the one failure that says "overloaded" to an adaptive limit.
      if (error.reason === 'timeout')
        this.backend.limiter?.sample(this.forwarder.now() - this.started, this.backend.active, true);
    }
    this.backend.release();
    this.reject(error);
  }
}

/** A forked (hedged) attempt's signal aborted: the pipeline cancelled it, or the client left. */
function cancelAttempt(attempt: Attempt): void {
  if (attempt.settled) return;
  attempt.cancelled = true;
  attempt.forwarder.failAttempt(attempt, new Error('attempt cancelled'));
}

/**
 * The backend answered before the client's request body had all come. Once
 * Node has written that response it stops tracking the request, so a client
 * that then leaves mid-upload (or is cut off by the server's
 * `requestTimeout`) ends nothing: the upstream request would wait for the
 * rest of its body forever, holding a pooled socket that can never carry
 * another request. When the client connection closes first, the upstream
 * request is destroyed; when the body completes, the watch is dropped.
 */
function dropUnfinishedUpload(attempt: Attempt, req: IncomingMessage): void {
  const socket = req.socket;
  const onClose = () => {
    req.off('end', onEnd);
    const proxyReq = attempt.proxyReq;
    if (proxyReq !== undefined && !proxyReq.writableFinished) proxyReq.destroy();
  };
  const onEnd = () => socket.off('close', onClose);
  if (socket.destroyed) {
    onClose();
    return;
  }
  socket.once('close', onClose);
  req.once('end', onEnd);
}

/** The HTTP/2 client's stream closed: an attempt still waiting for its response is over. */
function onClientClose(attempt: Attempt): void {
  if (attempt.settled || !clientGone(attempt.ctx.res)) return;
  attempt.forwarder.failAttempt(attempt, new Error('client stream closed'));
}

function onAttemptTimeout(attempt: Attempt): void {
  attempt.timer = undefined;
  attempt.timedOut = attempt.byDeadline ? 'deadline' : attempt.phase;
  attempt.proxyReq?.destroy();
  // Still waiting in the agent's queue for a socket: no request to destroy.
  if (!attempt.proxyReq) attempt.forwarder.failAttempt(attempt, new Error('timed out waiting for a socket'));
}

/**
 * The body's idle timeout: the socket's inactivity timer, not a 'data'
 * listener (reading here would start the body flowing before anyone pipes
 * it). None for a body already over.
 */
function armIdle(proxyRes: IncomingMessage, backend: Backend, idle: number): void {
  if (proxyRes.complete || proxyRes.destroyed || !proxyRes.socket) return;
  proxyRes.setTimeout(idle, () => {
    proxyRes.destroy(
      new UpstreamError(
        'ERR_UPSTREAM_TIMEOUT',
        `backend ${backend.id} stalled for ${idle} ms mid-body`,
        backend.id,
        'timeout',
        false,
      ),
    );
  });
}

/** Starts the connect timeout of an attempt still waiting for a connection (a new one, or a socket from the agent's queue). */
function armConnect(attempt: Attempt): void {
  if (!attempt.settled && attempt.phase === 'connect' && attempt.timer === undefined) attempt.arm('connect');
}

function onSocketConnect(this: Socket, attempt: Attempt): void {
  attempt.connected = true;
  if (!attempt.settled) attempt.arm('response');
}

/**
 * Sends requests upstream with http-proxy-3 and turns what comes back into a
 * `ctx.response`, or an {@link UpstreamError}. Works around the proxy's known
 * gaps: it owns timeouts and connect tracking (the proxy reports refused,
 * reset and its own timeout all as "socket hang up"), always passes a
 * keep-alive agent, handles responses itself, and watches for an upstream
 * that dies after its headers.
 */
export class Forwarder implements UpstreamForwarder {
  readonly name = 'http-proxy-3';
  readonly timeouts: ResolvedTimeoutsOptions;
  readonly now: () => number;
  readonly #via: string | false;
  readonly #proxy: ProxyServer;
  /** The proxy's per-call error callback, one for every call: the request it gets back is the attempt's view. */
  readonly #onProxyError = (error: Error, req: unknown): void => {
    const attempt = attemptOf(req);
    if (attempt) this.failAttempt(attempt, error);
  };

  constructor(options: { timeouts: ResolvedTimeoutsOptions; via: string | false; now: () => number }) {
    this.timeouts = options.timeouts;
    this.now = options.now;
    this.#via = options.via;
    const proxy = createProxyServer({ selfHandleResponse: true, xfwd: false, toProxy: true });
    // `deleteLength` rewrites DELETE/OPTIONS framing (it drops Transfer-Encoding),
    // which would change the body a backend reads: the forwarder sets framing itself.
    dropWebPass(proxy, 'deleteLength');
    // Errors arrive through per-call callbacks; this listener only keeps a stray
    // one from being rethrown by the emitter and killing the process.
    proxy.on('error', () => {});
    // Each request's view carries its attempt: no 'response' listener per request.
    proxy.on('proxyReq', (proxyReq, req) => {
      const attempt = attemptOf(req);
      if (attempt) this.#onProxyReq(attempt, proxyReq);
    });
    proxy.on('proxyRes', (proxyRes, req) => {
      const attempt = attemptOf(req);
      if (attempt) this.#onResponse(attempt, proxyRes);
    });
    this.#proxy = proxy;
  }

  /**
   * A keep-alive agent for one backend; for `protocol` `h2`, `h2c` or `auto`
   * it also holds the backend's HTTP/2 session (see `http2-upstream.ts`).
   */
  createAgent(
    url: URL,
    pool: ResolvedConnectionPoolOptions,
    connect: Connector | undefined,
    tls?: https.AgentOptions,
    protocol: UpstreamProtocol = 'http/1.1',
  ): http.Agent {
    const agent = createAgent(url, pool, connect, tls);
    return protocol === 'http/1.1' ? agent : attachHttp2(agent, new Http2Sessions(url, protocol, connect, tls));
  }

  /** None: this forwarder sends everything through the agent. */
  createDispatcher(): undefined {
    return undefined;
  }

  /**
   * Sends `ctx.req` to `backend` with `headers`. Resolves once response
   * headers arrive, with `ctx.response` set and its body still streaming;
   * rejects with an {@link UpstreamError} when no response comes.
   */
  forward(ctx: Context, backend: Backend, headers: Record<string, string | string[]>, body?: Readable): Promise<void> {
    const h2 = http2SessionsOf(backend.agent);
    if (h2 !== undefined && !h2.http1) {
      return forwardHttp2(ctx, backend, h2, headers, body, {
        timeouts: this.timeouts,
        now: this.now,
        via: this.#via,
        http1: () => this.#forwardHttp1(ctx, backend, headers, body),
      });
    }
    return this.#forwardHttp1(ctx, backend, headers, body);
  }

  #forwardHttp1(
    ctx: Context,
    backend: Backend,
    headers: Record<string, string | string[]>,
    body: Readable | undefined,
  ): Promise<void> {
    const attempt = new Attempt(ctx, backend, this);
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
    }
    const req = ctx.req;
    // A client body that aborts or fails to parse ends this attempt only: the
    // upstream request is destroyed and the backend is not blamed. Registered
    // before http-proxy-3's own listener, so the cause is known when it fires.
    // A plain listener, not a once-wrapper: the stream errs once, and a settled attempt ignores it.
    if (!req.readableEnded) {
      req.on('error', (error: Error) => {
        // Settled by an answer that came first, a body that breaks off is dropUnfinishedUpload's.
        if (attempt.settled) return;
        attempt.clientBodyError = clientParseError(req) ?? error;
        this.failAttempt(attempt, attempt.clientBodyError);
      });
    }
    // http-proxy-3 tells a client that left by `res.writableFinished`, which an
    // HTTP/2 compatibility response reports true for a reset stream too.
    if (isHttp2(req)) ctx.res.once('close', () => onClientClose(attempt));
    // A chunked body may end with trailer fields: forward them (http-proxy-3 would drop them).
    // An HTTP/2 body is sent chunked too (headers.ts), and may end with trailers the same way.
    if (headers['transfer-encoding'] !== undefined) body = withTrailers(attempt, body ?? req);
    try {
      this.#proxy.web(
        new ProxyView(attempt, ctx.method, ctx.path, headers) as unknown as IncomingMessage,
        ctx.res,
        {
          target: backend.target,
          prependPath: !isRootTarget(backend.target),
          agent: raced.delete(req) ? freshAgent(backend.agent) : backend.agent,
          buffer: body ?? req,
        } as ServerOptions,
        this.#onProxyError,
      );
    } catch (error) {
      this.failAttempt(attempt, error as Error);
    }
    // Queued after the agent's hand-over of a socket (its own next tick, queued in web()):
    // a request given a pooled socket is already in its response phase by then, and never
    // sets and clears a connect timer it cannot need.
    process.nextTick(armConnect, attempt);
    return promise;
  }

  #onProxyReq(attempt: Attempt, proxyReq: ClientRequest): void {
    attempt.proxyReq = proxyReq;
    attempt.onProxyReq?.();
    if (attempt.settled) {
      proxyReq.destroy();
      return;
    }
    const socket = proxyReq.socket as Socket | null;
    if (socket && (socket as { connecting?: boolean }).connecting) {
      // An https: backend's connection is made once its TLS handshake is: until then a failure
      // (an untrusted certificate...) is a failed connect, as on the undici forwarder.
      const made = attempt.backend.target.protocol === 'https:' ? 'secureConnect' : 'connect';
      socket.once(made, onSocketConnect.bind(socket, attempt));
    } else {
      attempt.connected = true;
      attempt.arm('response');
    }
    // The response comes through the proxy's 'proxyRes' event (see the constructor).
    // 'close' comes once: a plain listener, no once-wrapper per request.
    proxyReq.on('close', () => {
      if (!attempt.settled) this.failAttempt(attempt, new Error('upstream request closed before a response'));
    });
  }

  #onResponse(attempt: Attempt, proxyRes: IncomingMessage): void {
    if (attempt.settled) {
      proxyRes.destroy();
      return;
    }
    const unrelayable = unrelayableResponse(attempt.backend.id, proxyRes.statusCode ?? 0, proxyRes.statusMessage);
    if (unrelayable !== undefined) {
      proxyRes.destroy();
      attempt.proxyReq?.destroy();
      attempt.fail(unrelayable);
      return;
    }
    attempt.settled = true;
    attempt.disarm();
    const backend = attempt.backend;
    const status = proxyRes.statusCode ?? 502;
    backend.record(status < 500, this.now() - attempt.started);
    const response: NonNullable<Context['response']> = {
      status,
      statusMessage: proxyRes.statusMessage,
      headers: clientResponseHeaders(proxyRes, this.#via),
      body: proxyRes,
    };
    // Release once the body is over, however it ends; a body the backend breaks off is its failure.
    // This listener comes first: a gRPC status in the trailers is judged before anyone else sees the end.
    onBodyOutcome(proxyRes, (outcome) => {
      if (outcome === 'failed') backend.record(false, -1);
      else if (outcome === 'complete' && (judgeGrpcTrailers(response, proxyRes.rawTrailers) ?? 0) >= 500)
        backend.record(false, -1);
      backend.release();
    });
    const idle = this.timeouts.idle;
    // Armed once the packet that brought the headers is parsed: a body that came
    // with them (most small ones) is complete by then, and needs no timer.
    if (idle > 0 && !proxyRes.complete) queueMicrotask(() => armIdle(proxyRes, backend, idle));
    // Answered before the client's body has all come (a 401, a 413 to an upload): see dropUnfinishedUpload.
    const req = attempt.ctx.req;
    if (!req.complete && !isHttp2(req)) dropUnfinishedUpload(attempt, req);
    attempt.ctx.response = response;
    attempt.resolve();
  }

  /** Classifies a failure of `attempt` and rejects its promise. */
  failAttempt(attempt: Attempt, error: Error & { code?: string }): void {
    if (attempt.settled) return;
    const state: FailedAttempt = {
      backend: attempt.backend.id,
      req: attempt.ctx.req,
      res: attempt.ctx.res,
      reused: attempt.proxyReq?.reusedSocket === true,
      clientBodyError: attempt.clientBodyError,
      cancelled: attempt.cancelled,
      timedOut: attempt.timedOut,
      connected: attempt.connected,
    };
    const failure = attemptFailure(state, error, this.timeouts, { queued: attempt.proxyReq === undefined });
    attempt.clientBodyError = state.clientBodyError;
    if (isIdleRace(failure)) raced.add(attempt.ctx.req);
    attempt.proxyReq?.destroy();
    attempt.fail(failure);
  }

  /**
   * One tunnel attempt's options: `backend` counts it in flight until
   * `finish` (once, whichever of the client side and the attempt ends
   * first), and a failure that is the backend's fault is recorded.
   */
  #tunnelOptions(
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): TunnelOptions & { finish(error?: Error): void } {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      backend.release();
      onDone(error);
    };
    backend.begin();
    return {
      backend,
      headers,
      path,
      via: this.#via,
      timeoutMs: this.timeouts.connect + this.timeouts.response,
      finish,
      onError: (error, backendFault) => {
        if (backendFault) backend.record(false, -1);
        finish(error);
      },
    };
  }

  /**
   * Tunnels an upgrade request (WebSocket) to `backend`. `onDone` runs once,
   * when the tunnel or the attempt is over.
   */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void {
    const options = this.#tunnelOptions(backend, headers, path, onDone);
    tunnel(req, socket, head, options);
    // After tunnel()'s own listener: a client that left before the answer is reported as its abort first.
    socket.once('close', () => options.finish());
  }

  /**
   * Tunnels a WebSocket opened on an HTTP/2 stream (RFC 8441 extended
   * CONNECT) to `backend` as an HTTP/1.1 upgrade. `onDone` runs once, when
   * the stream or the attempt is over.
   */
  upgradeStream(
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void {
    const options = this.#tunnelOptions(backend, headers, path, onDone);
    tunnelStream(req, res, options);
    // After tunnelStream()'s own listener: a client that left before the answer is reported as its abort first.
    res.stream.once('close', () => options.finish());
  }

  close(): void {
    this.#proxy.removeAllListeners();
    this.#proxy.on('error', () => {});
  }
}

/** Writes `ctx.response` to the client, streaming a body from upstream. */
export function sendResponse(
  res: ServerResponse,
  response: NonNullable<Context['response']>,
  onBodyError: (error: Error) => void,
): void {
  const h2 = isHttp2(res.req);
  // HTTP/2 has no reason phrase (RFC 9113 §8.3.2): Node warns on setting one.
  if (response.statusMessage && !h2) res.statusMessage = response.statusMessage;
  let headers = response.headers;
  if (
    (response.status === 204 || response.status === 304) &&
    (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined)
  ) {
    // No body, so no framing to announce (RFC 9110 §8.6), whoever made the response.
    headers = { ...headers };
    delete headers['content-length'];
    delete headers['transfer-encoding'];
  }
  const trailersOnly = h2 && headers['grpc-status'] !== undefined;
  // A body the forwarder has not made into a stream goes to the client without one.
  const lazy = trailersOnly ? undefined : lazyBody(response);
  const body = lazy === undefined ? response.body : undefined;
  if (trailersOnly) {
    // A trailers-only gRPC answer must stay one HEADERS frame that ends the
    // stream: headers set before end() make Node's compatibility layer send it so.
    res.statusCode = response.status;
    for (const name in headers) res.setHeader(name, headers[name] as string | string[]);
    res.end();
    if (body !== undefined && !Buffer.isBuffer(body)) body.resume();
    return;
  }
  try {
    res.writeHead(response.status, headers);
  } catch (error) {
    // A field the client's protocol refuses (Node's HTTP/2 layer throws on some): cut the
    // exchange rather than leave the client waiting for headers that never come.
    if (lazy !== undefined) lazy.discard();
    else if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
    onBodyError(error as Error);
    res.destroy();
    return;
  }
  if (lazy !== undefined) {
    lazy.sendTo(res, onBodyError);
    return;
  }
  if (body === undefined || Buffer.isBuffer(body)) {
    res.end(body);
    return;
  }
  if (body.destroyed && !body.readableEnded) {
    // The upstream died between its headers and now: nothing left to stream.
    onBodyError(new Error('upstream closed mid-body'));
    res.destroy();
    return;
  }
  if (kSendTo in body) {
    // Written straight to the client, without a pipe's listeners per response.
    (body as Readable & DirectBody)[kSendTo](res, onBodyError);
    return;
  }
  body.on('error', (error) => {
    onBodyError(error);
    // Headers are gone: the only honest signal left is to cut the connection.
    res.destroy(error);
  });
  body.on('close', () => {
    if (!body.readableEnded && !res.writableEnded) {
      onBodyError(new Error('upstream closed mid-body'));
      res.destroy();
    }
  });
  res.once('close', () => {
    if (!body.destroyed && !body.readableEnded) body.destroy();
  });
  // Trailer fields of a chunked upstream body go out before the client's last chunk
  // (a body framed by Content-Length, or by the connection's close, has none).
  if ('rawTrailers' in body && !(body instanceof IncomingMessage && !chunkedRaw(body.rawHeaders))) {
    body.prependOnceListener('end', () => addTrailers(res, (body as IncomingMessage).rawTrailers));
  }
  body.pipe(res);
}

/** Whether raw header lines name a transfer coding (read without building `IncomingMessage.headers`). */
function chunkedRaw(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/** Sets trailer fields given as raw `[name, value, ...]` on `res`, in the form its protocol takes. */
export function addTrailers(res: ServerResponse, raw: readonly string[]): void {
  if (raw.length === 0) return;
  if (isHttp2(res.req)) {
    // The HTTP/2 compatibility response takes an object only; repeated fields become a list.
    const trailers: Record<string, string | string[]> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      const prior = trailers[name];
      trailers[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
    }
    res.addTrailers(trailers);
    return;
  }
  const trailers: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) trailers.push([raw[i] as string, raw[i + 1] as string]);
  res.addTrailers(trailers);
}
