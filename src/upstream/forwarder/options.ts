import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, positiveInt } from '../../core/zod.js';

/** Upstream timeouts: the `timeouts` section. */
export const timeoutsSchema = z.strictObject({
  /** Longest wait for a new upstream TCP/TLS connection. @default '5s' */
  connect: duration().default(5000),
  /**
   * Longest wait for response headers once connected, re-armed while the
   * request body is still being sent. @default '60s'
   */
  response: duration().default(60_000),
  /** Longest silence between two chunks of the response body. @default '60s' */
  idle: duration().default(60_000),
  /**
   * Overall deadline from the request's arrival to its response headers:
   * body buffering, queueing, every attempt and backoff included. When it
   * passes the client gets 504 `ERR_DEADLINE`. @default none
   */
  total: duration().optional(),
});

/** The keep-alive connection pool per backend: the `connectionPool` section. */
export const connectionPoolSchema = z.strictObject({
  /** Most sockets per backend, busy and idle. @default 256 */
  maxSockets: positiveInt().default(256),
  /** Most idle sockets kept per backend. @default 64 */
  maxFreeSockets: positiveInt().default(64),
  /**
   * Idle sockets are closed after this long. Keep it below the backends'
   * keep-alive timeout (Node's default is 5 s) so a request never races a
   * socket the backend is closing. @default '4s'
   */
  idleTimeout: duration().default(4000),
});

/**
 * The `timeouts` option, as you pass it: each a number of milliseconds or a
 * duration string. `test/option-types.test.ts` keeps this interface and
 * `timeoutsSchema` in step.
 *
 * @example
 * ```ts
 * import { type TimeoutsOptions } from 'switchyard-lb';
 * const timeouts: TimeoutsOptions = { connect: '2s', response: '30s', total: '45s' };
 * ```
 */
export interface TimeoutsOptions {
  /** Longest wait for a new upstream TCP/TLS connection. @default '5s' */
  connect?: Duration | undefined;
  /** Longest wait for response headers once connected, re-armed while the request body is still being sent. @default '60s' */
  response?: Duration | undefined;
  /** Longest silence between two chunks of the response body. @default '60s' */
  idle?: Duration | undefined;
  /** Overall deadline from the request's arrival to its response headers (504 `ERR_DEADLINE`). @default none */
  total?: Duration | undefined;
}

/** {@link TimeoutsOptions} after validation and defaults, in milliseconds. */
export interface ResolvedTimeoutsOptions {
  /** Connect timeout, ms. @default 5000 */
  connect: number;
  /** Response-headers timeout, ms. @default 60000 */
  response: number;
  /** Body idle timeout, ms. @default 60000 */
  idle: number;
  /** Overall deadline, ms, or undefined for none. */
  total?: number | undefined;
}

/**
 * The `connectionPool` option, as you pass it: the keep-alive pool per
 * backend. `test/option-types.test.ts` keeps this interface and
 * `connectionPoolSchema` in step.
 *
 * @example
 * ```ts
 * import { type ConnectionPoolOptions } from 'switchyard-lb';
 * const connectionPool: ConnectionPoolOptions = { maxSockets: 64, idleTimeout: '2s' };
 * ```
 */
export interface ConnectionPoolOptions {
  /** Most sockets per backend, busy and idle, >= 1. @default 256 */
  maxSockets?: number | undefined;
  /** Most idle sockets kept per backend, >= 1. @default 64 */
  maxFreeSockets?: number | undefined;
  /** Idle sockets are closed after this long; keep it below the backends' keep-alive timeout. @default '4s' */
  idleTimeout?: Duration | undefined;
}

/** {@link ConnectionPoolOptions} after validation and defaults. */
export interface ResolvedConnectionPoolOptions {
  /** Most sockets per backend. @default 256 */
  maxSockets: number;
  /** Most idle sockets per backend. @default 64 */
  maxFreeSockets: number;
  /** Idle socket lifetime, ms. @default 4000 */
  idleTimeout: number;
}
