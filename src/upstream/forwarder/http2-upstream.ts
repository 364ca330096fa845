/**
 * HTTP/2 upstreams (`protocol: 'h2' | 'h2c' | 'auto'` on a backend) over
 * `node:http2` client sessions: one session per backend, opened on first use
 * and again after it closes or the backend sends GOAWAY. Requests are streams
 * on it; the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` becomes the backend's
 * stream limit, which the connection limit and least-connections count
 * against (`Backend.capacity`).
 *
 * @module
 */
import type http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import type { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import type { ErrorCode } from '../../core/errors.js';
import type { RetryReason } from '../../core/events.js';
import {
  formatGrpcTimeout,
  grpcToHttpStatus,
  isGrpc,
  judgeGrpcTrailers,
  trailersOnlyStatus,
} from '../../core/net/grpc.js';
import { clientGone } from '../../core/net/http2-compat.js';
import { UpstreamError } from '../../core/upstream-error.js';
import type { ResolvedTimeoutsOptions } from './options.js';
import { CONNECT_ERRORS } from './upgrade.js';

/**
 * How the balancer talks to a backend: `http/1.1` (default), `h2` (HTTP/2
 * over TLS, ALPN `h2`), `h2c` (HTTP/2 over cleartext, prior knowledge) or
 * `auto` (ALPN offers `h2` and `http/1.1` on an `https:` backend and uses what
 * the backend picks; HTTP/1.1 on an `http:` one).
 *
 * @example
 * ```ts
 * import { type UpstreamProtocol } from './http2-upstream.js';
 * const backend = { url: 'http://10.0.0.5:50051', protocol: 'h2c' as UpstreamProtocol };
 * ```
 */
export type UpstreamProtocol = 'http/1.1' | 'h2' | 'h2c' | 'auto';

/** Creates a connection for a backend: TCP/TLS by default, or the backend's own transport. */
type Connector = (options: object) => Duplex;

/** Header fields HTTP/2 forbids (RFC 9113 §8.2.2), on requests and responses alike. */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

const sessions = new WeakMap<http.Agent, Http2Sessions>();

/**
 * Gives a backend's agent its HTTP/2 sessions: the forwarder finds them with
 * {@link http2SessionsOf}, and destroying the agent (backend removed, balancer
 * closed) closes them too. The agent itself keeps serving HTTP/1.1 (health
 * checks, and `auto` when the backend negotiates HTTP/1.1).
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { Http2Sessions, attachHttp2 } from './http2-upstream.js';
 * const url = new URL('http://10.0.0.1:8080');
 * const agent = attachHttp2(new http.Agent({ keepAlive: true }), new Http2Sessions(url, 'h2c', undefined));
 * ```
 */
export function attachHttp2<A extends http.Agent>(agent: A, held: Http2Sessions): A {
  sessions.set(agent, held);
  const destroy = agent.destroy.bind(agent);
  agent.destroy = () => {
    destroy();
    held.destroy();
  };
  return agent;
}

/**
 * The HTTP/2 sessions of a backend's agent, or undefined for an HTTP/1.1 backend.
 *
 * @example
 * ```ts
 * import { http2SessionsOf } from './http2-upstream.js';
 * const h2 = http2SessionsOf(backend.agent);
 * ```
 */
export function http2SessionsOf(agent: http.Agent): Http2Sessions | undefined {
  return sessions.get(agent);
}

/**
 * The HTTP/2 session of one backend (`protocol` `h2`, `h2c` or `auto`),
 * opened on first use and again after it closes or the backend sends GOAWAY.
 *
 * @example
 * ```ts
 * import { Http2Sessions } from './http2-upstream.js';
 * const held = new Http2Sessions(new URL('http://127.0.0.1:50051'), 'h2c', undefined);
 * const session = await held.session();
 * ```
 */
export class Http2Sessions {
  /** The protocol asked for. */
  readonly protocol: Exclude<UpstreamProtocol, 'http/1.1'>;
  /** Hears the peer's `SETTINGS_MAX_CONCURRENT_STREAMS` (Infinity when it sets none or the session is gone). */
  onStreamLimit: ((limit: number) => void) | undefined;
  readonly #url: URL;
  readonly #connect: Connector | undefined;
  /** The backend's TLS settings (`tls` option): CA, client certificate, servername. */
  readonly #tls: tls.ConnectionOptions | undefined;
  #session: ClientHttp2Session | undefined;
  #connecting: Promise<ClientHttp2Session | 'http/1.1'> | undefined;
  /** `auto` found the backend speaks HTTP/1.1 only. */
  #http1 = false;

  constructor(
    url: URL,
    protocol: Exclude<UpstreamProtocol, 'http/1.1'>,
    connect: Connector | undefined,
    tlsOptions?: tls.ConnectionOptions,
  ) {
    this.protocol = protocol;
    this.#tls = tlsOptions;
    this.#url = url;
    this.#connect = connect;
    // Cleartext HTTP/2 needs prior knowledge (h2c): `auto` on http: is HTTP/1.1.
    if (protocol === 'auto' && url.protocol !== 'https:') this.#http1 = true;
  }

  /** True once `auto` found the backend speaks HTTP/1.1 only: requests go through the HTTP/1.1 path. */
  get http1(): boolean {
    return this.#http1;
  }

  /** True when a session is open and not going away (requests need no connection setup). */
  get connected(): boolean {
    const session = this.#session;
    return session !== undefined && !session.closed && !session.destroyed && !session.connecting;
  }

  /**
   * The session to send the next request on, connecting first when there is
   * none; `'http/1.1'` when `auto` negotiated HTTP/1.1.
   */
  session(): Promise<ClientHttp2Session | 'http/1.1'> {
    if (this.#http1) return Promise.resolve('http/1.1');
    const session = this.#session;
    if (session && !session.closed && !session.destroyed) return Promise.resolve(session);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<ClientHttp2Session | 'http/1.1'> {
    const url = this.#url;
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let socket: Duplex | undefined;
    if (this.#connect) {
      const servername = secure && !isIP(host) ? host : undefined;
      socket = this.#connect({ host, port, servername, ALPNProtocols: alpn(this.protocol) });
    } else if (secure) {
      socket = tls.connect({
        servername: isIP(host) ? undefined : host,
        ...this.#tls,
        host,
        port,
        ALPNProtocols: alpn(this.protocol),
      });
    }
    if (secure && socket) {
      const negotiated = await negotiatedProtocol(socket as TLSSocket);
      if (negotiated !== 'h2') {
        socket.destroy();
        if (this.protocol === 'auto') {
          this.#http1 = true;
          return 'http/1.1';
        }
        throw Object.assign(new Error(`backend did not negotiate h2 (ALPN: ${negotiated || 'none'})`), {
          code: 'ERR_ALPN',
        });
      }
    }
    const origin = `${secure ? 'https' : 'http'}://${url.host}`;
    const given = socket;
    const session = http2.connect(origin, given ? { createConnection: () => given } : {});
    this.#session = session;
    // Errors reach the streams; a session error alone must not reach the process.
    session.on('error', () => {});
    session.on('remoteSettings', (settings) => {
      this.onStreamLimit?.(settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY);
    });
    session.on('goaway', () => this.#forget(session));
    session.on('close', () => this.#forget(session));
    // Idle sessions do not keep the process alive; requests ref the stream themselves.
    session.unref();
    await new Promise<void>((resolve, reject) => {
      if (!session.connecting) return resolve();
      const onError = (error: Error) => reject(error);
      session.once('connect', () => {
        session.off('error', onError);
        resolve();
      });
      session.once('error', onError);
      session.once('close', () => reject(Object.assign(new Error('session closed'), { code: 'ECONNRESET' })));
    });
    return session;
  }

  #forget(session: ClientHttp2Session): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.onStreamLimit?.(Number.POSITIVE_INFINITY);
  }

  /** Closes the session (the backend left or the balancer closed). */
  destroy(): void {
    const session = this.#session;
    this.#session = undefined;
    session?.destroy();
  }
}

function alpn(protocol: Exclude<UpstreamProtocol, 'http/1.1'>): string[] {
  return protocol === 'auto' ? ['h2', 'http/1.1'] : ['h2'];
}

function negotiatedProtocol(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    if (socket.alpnProtocol !== undefined && (socket as { encrypted?: boolean }).encrypted && !socket.connecting) {
      resolve(socket.alpnProtocol || '');
      return;
    }
    socket.once('secureConnect', () => resolve(socket.alpnProtocol || ''));
    socket.once('error', reject);
  });
}

/** What the HTTP/2 path needs from the forwarder. */
export interface Http2ForwardDeps {
  readonly timeouts: ResolvedTimeoutsOptions;
  readonly now: () => number;
  readonly via: string | false;
  /** Sends the attempt over HTTP/1.1 instead (`auto` negotiated it). */
  readonly http1: () => Promise<void>;
}

/** A response body from an HTTP/2 stream, its trailer fields kept for the client (see `sendResponse`). */
class Http2Body extends PassThrough {
  rawTrailers: string[] = [];
}

function toHttp2Request(
  ctx: Context,
  backend: Backend,
  headers: Record<string, string | string[]>,
  now: number,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': ctx.method,
    ':path': joinPath(backend.target, ctx.path),
    ':scheme': backend.url.protocol === 'https:' ? 'https' : 'http',
    ':authority': (Array.isArray(headers.host) ? headers.host[0] : headers.host) ?? backend.url.host,
  };
  for (const name in headers) {
    if (CONNECTION_SPECIFIC.has(name)) continue;
    out[name] = headers[name];
  }
  // gRPC (and any client that reads trailers) asks with `TE: trailers`; the one TE value HTTP/2 allows.
  const te = ctx.req.headers.te;
  if (typeof te === 'string' && te.trim().toLowerCase() === 'trailers') out.te = 'trailers';
  // The backend gets the deadline that is left, not the one the client started with.
  if (out['grpc-timeout'] !== undefined && ctx.deadline !== Number.POSITIVE_INFINITY)
    out['grpc-timeout'] = formatGrpcTimeout(ctx.deadline - now);
  return out;
}

function joinPath(target: URL, path: string): string {
  const base = target.pathname;
  if (base === '/' || base === '') return path;
  return `${base.endsWith('/') ? base.slice(0, -1) : base}${path}`;
}

function toClientHeaders(headers: IncomingHttpHeaders, via: string | false): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  if (via) {
    const prior = out.via;
    const hop = `2 ${via}`;
    out.via = prior ? `${Array.isArray(prior) ? prior.join(', ') : String(prior)}, ${hop}` : hop;
  }
  return out;
}

function rawTrailersOf(trailers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const name in trailers) {
    if (name.charCodeAt(0) === 58) continue;
    const value = trailers[name];
    if (Array.isArray(value)) for (const v of value) raw.push(name, v);
    else if (value !== undefined) raw.push(name, String(value));
  }
  return raw;
}

/** Request trailer fields to send upstream (the client's, minus what HTTP/2 forbids). */
function requestTrailers(req: IncomingMessage): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const raw = req.rawTrailers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name) || name === 'te') continue;
    const prior = out[name];
    const value = raw[i + 1] as string;
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [String(prior), value];
  }
  return out;
}

function failure(
  code: ErrorCode,
  message: string,
  backend: Backend,
  reason: RetryReason,
  cause?: unknown,
): UpstreamError {
  return new UpstreamError(code, message, backend.id, reason, false, cause);
}

/**
 * Sends one attempt to an HTTP/2 backend. Resolves once response headers
 * arrive, with `ctx.response` set and its body streaming; rejects with an
 * {@link UpstreamError} classified as the HTTP/1.1 forwarder does (connect,
 * timeouts, deadline, reset, client abort, cancelled hedge). A stream the
 * backend refused (`REFUSED_STREAM`, or beyond a GOAWAY's last stream) was
 * not processed, so it fails as `connect-failure`: retryable for any method.
 *
 * @example
 * ```ts
 * import { forwardHttp2 } from './http2-upstream.js';
 * declare const [, backend, agent, , , { timeouts, now, http1 }]: Parameters<typeof forwardHttp2>;
 * await forwardHttp2(ctx, backend, agent, headers, undefined, { timeouts, now, via: 'switchyard', http1 });
 * ```
 */
export function forwardHttp2(
  ctx: Context,
  backend: Backend,
  agent: Http2Sessions,
  headers: Record<string, string | string[]>,
  body: Readable | undefined,
  deps: Http2ForwardDeps,
): Promise<void> {
  const { timeouts, now } = deps;
  const started = now();
  backend.begin();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let stream: ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let connected = agent.connected;
    let cancelled = false;
    let clientError: Error | undefined;
    const req = ctx.req;

    const fail = (error: UpstreamError) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      cleanup();
      if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      if (!cancelled && clientError === undefined && error.code !== 'ERR_CLIENT_ABORTED') {
        backend.record(false, -1);
        if (error.reason === 'timeout') backend.limiter?.sample(now() - started, backend.active, true);
      }
      backend.release();
      reject(error);
    };

    const classify = (error: Error & { code?: string }): UpstreamError => {
      if (clientError !== undefined) {
        return (clientError as { code?: string }).code?.startsWith('HPE_')
          ? failure('ERR_BAD_REQUEST', 'the request body is malformed', backend, 'reset', clientError)
          : failure(
              'ERR_CLIENT_ABORTED',
              'client closed the connection while sending its request body',
              backend,
              'reset',
              clientError,
            );
      }
      if (clientGone(ctx.res))
        return failure('ERR_CLIENT_ABORTED', 'client closed the connection', backend, 'reset', error);
      if (cancelled)
        return failure('ERR_CANCELLED', `attempt to backend ${backend.id} cancelled`, backend, 'reset', error);
      if (!connected || (error.code && CONNECT_ERRORS.has(error.code)) || error.code === 'ERR_ALPN') {
        return failure(
          'ERR_UPSTREAM_CONNECT',
          `cannot connect to backend ${backend.id}`,
          backend,
          'connect-failure',
          error,
        );
      }
      const rst = stream?.rstCode;
      if (rst === http2.constants.NGHTTP2_REFUSED_STREAM || error.code === 'ERR_HTTP2_GOAWAY_SESSION') {
        return failure(
          'ERR_UPSTREAM_RESET',
          `backend ${backend.id} refused the stream before processing it`,
          backend,
          'connect-failure',
          error,
        );
      }
      return failure(
        'ERR_UPSTREAM_RESET',
        `backend ${backend.id} closed the stream before responding`,
        backend,
        'reset',
        error,
      );
    };

    const arm = (phase: 'connect' | 'response') => {
      if (timer) clearTimeout(timer);
      let ms = phase === 'connect' ? timeouts.connect : timeouts.response;
      let byDeadline = false;
      if (ctx.deadline !== Number.POSITIVE_INFINITY) {
        const left = ctx.deadline - now();
        if (left < ms) {
          ms = Math.max(left, 0);
          byDeadline = true;
        }
      }
      timer = setTimeout(() => {
        timer = undefined;
        if (byDeadline) {
          fail(
            failure(
              'ERR_DEADLINE',
              `no response within the request deadline (timeouts.total ${timeouts.total} ms)`,
              backend,
              'timeout',
            ),
          );
        } else if (phase === 'connect') {
          fail(
            failure(
              'ERR_UPSTREAM_CONNECT_TIMEOUT',
              `no connection to backend ${backend.id} within ${timeouts.connect} ms`,
              backend,
              'connect-failure',
            ),
          );
        } else {
          fail(
            failure(
              'ERR_UPSTREAM_TIMEOUT',
              `backend ${backend.id} sent no response within ${timeouts.response} ms`,
              backend,
              'timeout',
            ),
          );
        }
      }, ms);
    };

    const onClientClose = () => {
      if (!settled && clientGone(ctx.res)) fail(classify(new Error('client closed')));
    };
    const onClientError = (error: Error) => {
      if (settled) return;
      clientError = error;
      fail(classify(error));
    };
    const onCancel = () => {
      cancelled = true;
      fail(classify(new Error('attempt cancelled')));
    };
    const cleanup = () => {
      ctx.res.off('close', onClientClose);
      req.off('error', onClientError);
    };
    ctx.res.once('close', onClientClose);
    if (!req.readableEnded) req.once('error', onClientError);
    if (ctx.forked) {
      if (ctx.signal.aborted) return onCancel();
      ctx.signal.addEventListener('abort', onCancel, { once: true });
    }
    arm(connected ? 'response' : 'connect');

    agent.session().then(
      (session) => {
        if (settled) return;
        if (session === 'http/1.1') {
          // `auto` just found HTTP/1.1: this attempt goes the HTTP/1.1 way, as every later one will.
          settled = true;
          if (timer) clearTimeout(timer);
          cleanup();
          backend.release();
          deps.http1().then(resolve, reject);
          return;
        }
        connected = true;
        arm('response');
        send(session);
      },
      (error: Error) => fail(classify(error)),
    );

    const send = (session: ClientHttp2Session) => {
      const source = body ?? (req.readableEnded ? undefined : req);
      let s: ClientHttp2Stream;
      try {
        s = session.request(toHttp2Request(ctx, backend, headers, now()), {
          endStream: source === undefined,
          waitForTrailers: source !== undefined,
        });
      } catch (error) {
        fail(classify(error as Error));
        return;
      }
      stream = s;
      s.on('error', (error: Error) => {
        if (!settled) fail(classify(error));
      });
      s.once('close', () => {
        if (!settled) fail(classify(new Error('upstream stream closed before a response')));
      });
      if (source) {
        s.once('wantTrailers', () => s.sendTrailers(requestTrailers(req)));
        source.once('error', () => {
          if (!s.destroyed) s.close(http2.constants.NGHTTP2_CANCEL);
        });
        source.pipe(s);
      }
      s.once('response', (responseHeaders) => {
        if (settled) {
          s.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        settled = true;
        if (timer) clearTimeout(timer);
        cleanup();
        const status = Number(responseHeaders[':status']) || 502;
        // A trailers-only gRPC failure is judged by its gRPC status (200 says nothing).
        const grpcStatus = isGrpc(responseHeaders) ? trailersOnlyStatus(responseHeaders) : undefined;
        const judged = grpcStatus === undefined || grpcStatus === 0 ? status : grpcToHttpStatus(grpcStatus);
        backend.record(judged < 500, now() - started);
        const out = new Http2Body();
        const response: NonNullable<Context['response']> = {
          status,
          headers: toClientHeaders(responseHeaders, deps.via),
          body: out,
        };
        if (grpcStatus !== undefined && grpcStatus !== 0) {
          response.grpcStatus = grpcStatus;
          response.judgedStatus = judged;
        }
        // 'trailers' comes before the stream's end, so before the body's: a gRPC
        // failure status after messages is the exchange's outcome for whoever
        // judges it once the body is over (breaker, outlier detection, stats).
        s.once('trailers', (trailers) => {
          out.rawTrailers = rawTrailersOf(trailers);
          const late = judgeGrpcTrailers(response, trailers);
          if (late !== undefined && late >= 500) backend.record(false, -1);
        });
        s.once('close', () => {
          backend.release();
          // Reset by the backend mid-body: the client's response is cut too.
          if (!s.readableEnded && !out.destroyed) out.destroy(new Error('upstream stream reset mid-body'));
        });
        out.once('close', () => {
          if (!s.destroyed && !s.readableEnded) s.close(http2.constants.NGHTTP2_CANCEL);
        });
        const idle = timeouts.idle;
        if (idle > 0) {
          s.setTimeout(idle, () => {
            s.close(http2.constants.NGHTTP2_CANCEL);
            out.destroy(
              failure(
                'ERR_UPSTREAM_TIMEOUT',
                `backend ${backend.id} stalled for ${idle} ms mid-body`,
                backend,
                'timeout',
              ),
            );
          });
        }
        s.pipe(out);
        ctx.response = response;
        resolve();
      });
    };
  });
}
