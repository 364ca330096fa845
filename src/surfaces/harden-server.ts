/**
 * The `node:http` server settings a host application should use in front of
 * the balancer: bounded header and request times, a header size cap, a
 * keep-alive timeout and a connection limit. See `docs/security.md`.
 *
 * @module
 */
import type { Server, ServerOptions } from 'node:http';
import { z } from 'zod';
import type { Duration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { duration, parseOptions, positiveInt } from '../core/zod.js';

/** Options of {@link serverOptions} and {@link hardenServer}. */
export const serverHardeningSchema = z.strictObject({
  /**
   * Longest time a client may take to send the request head (Node's
   * `headersTimeout`; Slowloris). Milliseconds or a duration string, > 0.
   * @default '10s' (Node's own default is 60 s)
   */
  headersTimeout: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(10_000),
  /**
   * Longest time a client may take to send the whole request, body included
   * (Node's `requestTimeout`). Milliseconds or a duration string, > 0, at
   * least `headersTimeout`. @default '60s' (Node's own default is 300 s)
   */
  requestTimeout: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(60_000),
  /**
   * How often Node checks `headersTimeout` and `requestTimeout` (Node's
   * `connectionsCheckingInterval`; a slow client is cut up to this long
   * after its timeout). Milliseconds or a duration string, > 0.
   * @default '1s' (Node's own default is 30 s)
   */
  connectionsCheckingInterval: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(1_000),
  /**
   * Idle time before the server closes a keep-alive connection (Node's
   * `keepAliveTimeout`). Keep it longer than the idle timeout of whatever
   * pools connections to this server, so it is never the one that races.
   * Milliseconds or a duration string, > 0. @default '5s'
   */
  keepAliveTimeout: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(5_000),
  /**
   * Largest request head, in bytes (Node's `maxHeaderSize`: settable only when
   * the server is created, hence {@link serverOptions}). 1024 to 1 MiB.
   * @default 16384 (16 KiB, Node's default)
   */
  maxHeaderSize: positiveInt()
    .min(1024)
    .max(1024 * 1024)
    .default(16_384),
  /**
   * Most connections open at once (Node's `server.maxConnections`); more are
   * closed on accept. Size it to your file-descriptor limit. >= 1.
   * @default 10000
   */
  maxConnections: positiveInt().default(10_000),
  /**
   * Most requests served on one keep-alive connection before it is closed
   * (Node's `maxRequestsPerSocket`; 0 for no limit), so a single client
   * cannot pin a connection forever. >= 0. @default 1000
   */
  maxRequestsPerSocket: z.number().int().min(0).default(1000),
});

/**
 * Options of {@link serverOptions} and {@link hardenServer}, as written.
 *
 * @example
 * ```ts
 * import { type ServerHardeningOptions } from 'switchyard-lb';
 * const options: ServerHardeningOptions = { headersTimeout: '5s', maxConnections: 2000 };
 * ```
 */
export interface ServerHardeningOptions {
  /** Longest time a client may take to send the request head (Node's `headersTimeout`; Slowloris); milliseconds or a duration string, > 0. @default '10s' */
  headersTimeout?: Duration | undefined;
  /** Longest time a client may take to send the whole request, body included (Node's `requestTimeout`), at least `headersTimeout`. @default '60s' */
  requestTimeout?: Duration | undefined;
  /** How often Node checks `headersTimeout` and `requestTimeout` (Node's `connectionsCheckingInterval`), > 0. @default '1s' */
  connectionsCheckingInterval?: Duration | undefined;
  /** Idle time before the server closes a keep-alive connection (Node's `keepAliveTimeout`), > 0. @default '5s' */
  keepAliveTimeout?: Duration | undefined;
  /** Largest request head, in bytes (Node's `maxHeaderSize`), 1024 to 1 MiB. @default 16384 */
  maxHeaderSize?: number | undefined;
  /** Most connections open at once (Node's `server.maxConnections`), >= 1. @default 10000 */
  maxConnections?: number | undefined;
  /** Most requests served on one keep-alive connection before it is closed (Node's `maxRequestsPerSocket`; 0 for no limit). @default 1000 */
  maxRequestsPerSocket?: number | undefined;
}

/** {@link ServerHardeningOptions} after validation and defaults (durations in milliseconds). */
export interface ResolvedServerHardeningOptions {
  /** Request head timeout, ms. @default 10000 */
  headersTimeout: number;
  /** Whole request timeout, ms. @default 60000 */
  requestTimeout: number;
  /** Timeout check interval, ms. @default 1000 */
  connectionsCheckingInterval: number;
  /** Keep-alive idle timeout, ms. @default 5000 */
  keepAliveTimeout: number;
  /** Largest request head, bytes. @default 16384 */
  maxHeaderSize: number;
  /** Most open connections. @default 10000 */
  maxConnections: number;
  /** Most requests per connection (0: no limit). @default 1000 */
  maxRequestsPerSocket: number;
}

function resolve(options: ServerHardeningOptions | undefined): ResolvedServerHardeningOptions {
  const r = parseOptions(serverHardeningSchema, options ?? {}, 'server');
  if (r.requestTimeout < r.headersTimeout) {
    // Name the option the user set: the default requestTimeout outlasts any sane headersTimeout.
    if (options?.requestTimeout !== undefined) {
      throw new ConfigError(
        'server.requestTimeout',
        options.requestTimeout,
        `a duration no shorter than headersTimeout (${r.headersTimeout} ms)`,
      );
    }
    throw new ConfigError(
      'server.headersTimeout',
      options?.headersTimeout,
      `a duration no longer than requestTimeout (${r.requestTimeout} ms)`,
    );
  }
  return r;
}

/**
 * The `http.createServer` options a balancer's host server should start
 * with: `maxHeaderSize` and `connectionsCheckingInterval` (only settable
 * here), `headersTimeout`, `requestTimeout`, `keepAliveTimeout`, `requireHostHeader` and the strict
 * HTTP parser. Pair it with {@link hardenServer} for the limits Node only
 * takes on the server object. Throws `ConfigError` on a bad option.
 *
 * @example
 * ```ts
 * import { hardenServer, serverOptions } from 'switchyard-lb';
 * const server = hardenServer(http.createServer(serverOptions(), lb.handler));
 * ```
 */
export function serverOptions(options?: ServerHardeningOptions): ServerOptions {
  const r = resolve(options);
  return {
    maxHeaderSize: r.maxHeaderSize,
    headersTimeout: r.headersTimeout,
    requestTimeout: r.requestTimeout,
    keepAliveTimeout: r.keepAliveTimeout,
    connectionsCheckingInterval: r.connectionsCheckingInterval,
    requireHostHeader: true,
    insecureHTTPParser: false,
  };
}

/**
 * Applies the hardened settings to an existing `node:http` (or `node:https`)
 * server: `headersTimeout`, `requestTimeout`, `keepAliveTimeout`,
 * `maxConnections` and `maxRequestsPerSocket`, and returns it.
 * `maxHeaderSize` can only be given when the server is created: use
 * {@link serverOptions} for that. Throws `ConfigError` on a bad option.
 *
 * @example
 * ```ts
 * import { hardenServer, serverOptions } from 'switchyard-lb';
 * const server = hardenServer(http.createServer(serverOptions(), lb.handler), { maxConnections: 5000 });
 * server.on('upgrade', lb.upgrade);
 * server.listen(8080);
 * ```
 */
export function hardenServer<S extends Server>(server: S, options?: ServerHardeningOptions): S {
  const r = resolve(options);
  server.headersTimeout = r.headersTimeout;
  server.requestTimeout = r.requestTimeout;
  server.keepAliveTimeout = r.keepAliveTimeout;
  server.maxConnections = r.maxConnections;
  server.maxRequestsPerSocket = r.maxRequestsPerSocket;
  return server;
}
