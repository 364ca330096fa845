import type { Buffer } from 'node:buffer';
import type http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type https from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import type { Pool } from 'undici';
import type { Backend } from '../../core/backend.js';
import type { Context } from '../../core/context.js';
import type { UpstreamProtocol } from './http2-upstream.js';
import type { ResolvedConnectionPoolOptions } from './options.js';

/** Which HTTP client sends requests upstream (the `forwarder` option). */
export type ForwarderName = 'undici' | 'http-proxy-3';

/**
 * What the pipeline needs of a forwarder; `Forwarder` (http-proxy-3) and
 * `UndiciForwarder` implement it.
 */
export interface UpstreamForwarder {
  /** The `forwarder` option this implements. */
  readonly name: ForwarderName;
  /**
   * Sends `ctx.req` to `backend` with `headers`. Resolves once response
   * headers arrive, with `ctx.response` set and its body still streaming;
   * rejects with an `UpstreamError` when no response comes.
   */
  forward(ctx: Context, backend: Backend, headers: Record<string, string | string[]>, body?: Readable): Promise<void>;
  /**
   * A keep-alive agent for one backend (upgrades always use it); for a
   * `protocol` other than `http/1.1` it also holds the backend's HTTP/2
   * sessions (`attachHttp2`), which every forwarder sends through.
   */
  createAgent(
    url: URL,
    pool: ResolvedConnectionPoolOptions,
    connect: ((options: object) => Duplex) | undefined,
    tls?: https.AgentOptions,
    protocol?: UpstreamProtocol,
  ): http.Agent;
  /**
   * An undici pool for one backend, or undefined when this forwarder needs
   * none (and for HTTP/2 backends, which go through the HTTP/2 upstream path).
   */
  createDispatcher(
    url: URL,
    pool: ResolvedConnectionPoolOptions,
    connect: ((options: object) => Duplex) | undefined,
    tls?: https.AgentOptions,
    protocol?: UpstreamProtocol,
  ): Pool | undefined;
  /** Tunnels an upgrade request (WebSocket) to `backend`; `onDone` runs once. */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void;
  /**
   * Tunnels a WebSocket opened on an HTTP/2 stream (RFC 8441 extended
   * CONNECT) to `backend` as an HTTP/1.1 upgrade; `onDone` runs once.
   */
  upgradeStream(
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void;
  /** Stops the forwarder; per-backend pools are closed by their owner. */
  close(): void;
}

/**
 * A response body that can write itself to the client without a `pipe`
 * (the undici forwarder's): `sendResponse` calls it instead of piping.
 */
export const kSendTo: unique symbol = Symbol('switchyard.sendTo');

/** See {@link kSendTo}. */
export interface DirectBody {
  [kSendTo](res: import('node:http').ServerResponse, onBodyError: (error: Error) => void): void;
}
