import { Buffer } from 'node:buffer';
import http, { type IncomingMessage, STATUS_CODES } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Backend } from '../../core/backend.js';
import type { SwitchyardError } from '../../core/errors.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { unrelayableResponse, upstreamFailure } from './attempt-failure.js';
import { clientResponseHeaders } from './headers.js';

/** What {@link tunnel} needs beyond the request itself. */
export interface TunnelOptions {
  readonly backend: Backend;
  /** Upstream headers (hop-by-hop removed, `Connection: upgrade` and `Upgrade` set). */
  readonly headers: Record<string, string | string[]>;
  /** Validated origin-form target. */
  readonly path: string;
  /** `Via` pseudonym for an ordinary (non-101) answer, or false. */
  readonly via: string | false;
  /** Longest wait for the backend's answer to the handshake, connection included, in ms (`timeouts.connect` + `timeouts.response`). */
  readonly timeoutMs: number;
  /**
   * The upstream attempt failed (no connection, reset, malformed answer,
   * tunnel error). `backendFault` is false when the client went away first
   * and the balancer broke off the attempt itself: that is nobody's fault
   * but the client's, and must not count against the backend.
   */
  onError(error: Error, backendFault: boolean): void;
}

export { CONNECT_ERRORS } from './attempt-failure.js';

/** What a tunnel knows of its upstream handshake when it fails. */
export interface HandshakeState {
  /** The client went away first. */
  readonly clientGone: boolean;
  /** The handshake timeout fired. */
  readonly timedOut: boolean;
  /** The connection to the backend (TLS included) was made. */
  readonly connected: boolean;
  /** The handshake went out on a pooled keep-alive socket. */
  readonly reused: boolean;
}

/**
 * Classifies a failed handshake as the HTTP request path classifies a failed
 * attempt ({@link upstreamFailure}): refused or unreachable, or a TLS
 * handshake that failed, is `ERR_UPSTREAM_CONNECT` (502); the timeout is
 * `ERR_UPSTREAM_CONNECT_TIMEOUT` before the connection was made, else
 * `ERR_UPSTREAM_TIMEOUT` (504); an answer that is not valid HTTP (or a 101
 * that does not prove the WebSocket key) is `ERR_UPSTREAM_PROTOCOL`; a
 * backend that closed or reset the connection is `ERR_UPSTREAM_RESET` (502);
 * a client that left first is `ERR_CLIENT_ABORTED`.
 *
 * @example
 * ```ts
 * import { tunnelFailure } from './upgrade.js';
 * const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
 * tunnelFailure('a', refused, { clientGone: false, timedOut: false, connected: false, reused: false }, 10_000).code; // 'ERR_UPSTREAM_CONNECT'
 * ```
 */
export function tunnelFailure(
  backend: string,
  error: Error & { code?: string },
  state: HandshakeState,
  timeoutMs: number,
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  return upstreamFailure(
    {
      backend,
      reused: state.reused,
      clientGone: state.clientGone,
      cancelled: false,
      timedOut: state.timedOut ? (state.connected ? 'response' : 'connect') : undefined,
      connected: state.connected,
    },
    error,
    // One handshake timer counts from the start: it bounds the connection and the answer alike.
    { connect: timeoutMs, response: timeoutMs },
    { protocol: error.code === 'ERR_UPSTREAM_PROTOCOL' },
  );
}

/**
 * The gateway error a client gets when a handshake fails before anything
 * reached it: the failure's status (502 or 504) and its generic JSON body
 * (the code, no backend or address).
 */
export function handshakeFailure(failure: SwitchyardError): { status: number; body: string } {
  return { status: failure.status ?? 502, body: JSON.stringify(failure.toClientJSON()) };
}

/**
 * What both tunnel kinds (`tunnel()` here, `tunnelStream()` in
 * upgrade-h2.ts) track of one pending upgrade handshake: its answer
 * timeout, whether the backend answered and how, whether the client left,
 * the connection (made: for `https:` once the TLS handshake is done; on a
 * pooled socket or not), and the failure, classified once.
 */
export class Handshake {
  /** The backend answered with a 101: the tunnel is open. */
  upgraded = false;
  /** The backend answered with an ordinary response, relayed as one. */
  answered = false;
  /** The client went away before the answer. */
  clientGone = false;
  /** A failure was reported (or is not to be): later ones are not. */
  failed = false;
  /** The answer timeout fired. */
  timedOut = false;
  #connected = false;
  /** The handshake request. */
  readonly proxyReq: http.ClientRequest;
  readonly #backendId: string;
  /** The answer timeout, ms. */
  readonly timeoutMs: number;
  readonly #timer: NodeJS.Timeout;

  /**
   * Sends the handshake, `method path` (the backend URL's path prefixed) with
   * `headers`, to `backend` on its keep-alive agent (call `proxyReq.end()`
   * once its listeners are on), and starts the answer timeout (it destroys
   * the request) and the watch of its connection.
   */
  constructor(backend: Backend, method: string, path: string, headers: http.OutgoingHttpHeaders, timeoutMs: number) {
    const target = backend.target;
    const secure = target.protocol === 'https:';
    const base = target.pathname === '/' ? '' : target.pathname.replace(/\/$/, '');
    const proxyReq = (secure ? https : http).request({
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (secure ? 443 : 80),
      method,
      path: base + path,
      headers,
      agent: backend.agent,
      setHost: false,
    });
    this.proxyReq = proxyReq;
    this.#backendId = backend.id;
    this.timeoutMs = timeoutMs;
    this.#timer = setTimeout(onHandshakeTimeout, timeoutMs, this);
    proxyReq.once('socket', (socket: Duplex) => {
      if ((socket as Partial<Socket>).connecting) {
        socket.once(secure ? 'secureConnect' : 'connect', () => {
          this.#connected = true;
        });
      } else this.#connected = true;
    });
  }

  /** The backend answered, or the client left: the answer timeout stops. */
  settle(): void {
    clearTimeout(this.#timer);
  }

  /** `error`, classified (see {@link tunnelFailure}); undefined when a failure was reported already. */
  fail(error: Error & { code?: string }): UpstreamError | undefined {
    if (this.failed) return undefined;
    this.failed = true;
    this.settle();
    return tunnelFailure(
      this.#backendId,
      error,
      {
        clientGone: this.clientGone,
        timedOut: this.timedOut,
        connected: this.#connected,
        reused: this.proxyReq.reusedSocket,
      },
      this.timeoutMs,
    );
  }
}

function onHandshakeTimeout(handshake: Handshake): void {
  handshake.timedOut = true;
  handshake.proxyReq.destroy(new Error(`no answer to the upgrade within ${handshake.timeoutMs} ms`));
}

function tune(socket: Duplex): void {
  const s = socket as Partial<Socket>;
  s.setTimeout?.(0);
  s.setNoDelay?.(true);
  s.setKeepAlive?.(true, 0);
}

function headLines(raw: readonly string[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return out;
}

/**
 * Relays a backend's ordinary answer to an upgrade request as an ordinary
 * response on the raw client socket, then closes it: hop-by-hop headers
 * removed, no body for HEAD/204/304, the body delimited by its
 * `Content-Length` or by the close.
 */
function relay(req: IncomingMessage, socket: Duplex, proxyRes: IncomingMessage, via: string | false): void {
  const status = proxyRes.statusCode ?? 502;
  const headers = clientResponseHeaders(proxyRes, via);
  const bodiless = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
  let head = `HTTP/1.1 ${status} ${proxyRes.statusMessage || STATUS_CODES[status] || ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  head += 'connection: close\r\n\r\n';
  proxyRes.on('error', () => socket.destroy());
  if (bodiless || !socket.writable) {
    proxyRes.resume();
    if (socket.writable) socket.end(head);
    else socket.destroy();
    return;
  }
  socket.write(head);
  proxyRes.pipe(socket);
  proxyRes.once('close', () => {
    if (!proxyRes.complete) socket.destroy();
  });
}

/**
 * Sends an upgrade request (WebSocket) to `options.backend` and, on a 101,
 * joins the two sockets. Written here rather than with http-proxy-3's `ws`,
 * which relays a non-101 answer with the backend's hop-by-hop headers and
 * chunk-frames even a 204. The connection used is never returned to the
 * keep-alive pool: after an answer that is not a 101 the backend may still
 * be reading, or hold the state of a switch nobody finished.
 *
 * @example
 * ```ts
 * import { tunnel } from './upgrade.js';
 * declare const head: Buffer;
 * tunnel(req, socket, head, { backend, headers, path: '/ws', via: 'switchyard', timeoutMs: 10_000, onError: (e) => log(e) });
 * ```
 */
export function tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, options: TunnelOptions): void {
  const { backend, headers, path, via, onError, timeoutMs } = options;
  const handshake = new Handshake(backend, req.method ?? 'GET', path, headers, timeoutMs);
  const proxyReq = handshake.proxyReq;
  const fail = (error: Error & { code?: string }) => {
    const failure = handshake.fail(error);
    if (failure === undefined) return;
    if (!handshake.upgraded && !handshake.answered && socket.writable) {
      // Nothing reached the client yet: an ordinary gateway error, generic body.
      const { status, body } = handshakeFailure(failure);
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else if (!socket.destroyed) socket.destroy();
    onError(failure, !handshake.clientGone);
  };
  proxyReq.on('error', fail);
  proxyReq.on('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
    handshake.upgraded = true;
    handshake.settle();
    // Bytes the client sent before the 101 go first, then the socket flows through the pipe.
    socket.removeListener('data', hold);
    socket.pause();
    if (early.length > 0) socket.unshift(Buffer.concat(early));
    proxySocket.on('error', fail);
    proxySocket.on('close', () => socket.end());
    socket.on('close', () => proxySocket.end());
    tune(proxySocket);
    if (proxyHead.length > 0) proxySocket.unshift(proxyHead);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${headLines(proxyRes.rawHeaders)}\r\n`);
    proxySocket.pipe(socket).pipe(proxySocket);
  });
  proxyReq.on('response', (proxyRes: IncomingMessage) => {
    const unrelayable = unrelayableResponse(backend.id, proxyRes.statusCode ?? 0, proxyRes.statusMessage);
    if (unrelayable !== undefined) {
      // Nothing of it reached the client: a 502 as for any malformed answer.
      proxyRes.destroy();
      proxyReq.destroy();
      fail(unrelayable);
      return;
    }
    handshake.answered = true;
    handshake.settle();
    // Read again when the response ends (Node recomputes it from the Connection header when the head goes out).
    proxyReq.shouldKeepAlive = false;
    relay(req, socket, proxyRes, via);
  });
  socket.once('close', () => {
    handshake.settle();
    if (!handshake.upgraded && !proxyReq.destroyed) {
      // The client left before the handshake was answered: the attempt ends here, not at the
      // backend, and it ends as the client's abort (ERR_CLIENT_ABORTED), never as a tunnel that worked.
      handshake.clientGone = true;
      if (!handshake.answered) fail(new Error('client closed the connection'));
      proxyReq.destroy();
    }
  });
  tune(socket);
  // Read the client socket while the handshake is pending: a paused socket never sees the client's
  // FIN, so a client that left would hold the upstream attempt (and count against the backend)
  // until the handshake timeout. What it reads is kept for the tunnel (bounded).
  const early: Buffer[] = head.length > 0 ? [head] : [];
  let held = head.length;
  const hold = (chunk: Buffer) => {
    held += chunk.length;
    if (held > MAX_EARLY_BYTES) socket.destroy();
    else early.push(chunk);
  };
  socket.on('data', hold);
  // The server keeps upgrade sockets half-open: a client's FIN before any answer is a client abort
  // (as nginx reads it, 499), so the socket closes and the attempt ends with it.
  socket.once('end', () => {
    if (!handshake.upgraded && !handshake.answered) socket.destroy();
  });
  proxyReq.end();
}

/** Most bytes a client may send before the backend's 101 (a WebSocket client sends none). */
const MAX_EARLY_BYTES = 64 * 1024;
