import { z } from 'zod';
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

/** Resolved timeouts. */
export type Timeouts = z.output<typeof timeoutsSchema>;
/** Resolved connection pool settings. */
export type ResolvedConnectionPoolOptions = z.output<typeof connectionPoolSchema>;
