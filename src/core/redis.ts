import type { Cluster, Redis } from 'ioredis';
import { ioredis } from '../vendor/dependencies.js';
import type { Events } from './events.js';

/** An ioredis client (`Redis` or `Cluster`) the user already has. */
export type RedisClient = Redis | Cluster;

/** The `redis` option once resolved. */
export interface RedisSettings {
  /** A client to use as is (not closed by the balancer), or... */
  readonly client?: RedisClient | undefined;
  /** ...a URL to connect to (`redis://` or `rediss://`); the balancer owns and closes that connection. */
  readonly url?: string | undefined;
  /** Prefix of every key the balancer writes. @default 'switchyard:' */
  readonly keyPrefix: string;
}

/**
 * The balancer's shared Redis connection: one client for rate limits, sticky
 * sessions, the cache and membership, with the key prefix every feature uses.
 */
export interface SharedRedis {
  readonly client: RedisClient;
  /** Prefix every key with this (it already ends with a separator when the user gave one). */
  readonly keyPrefix: string;
  /** True while the connection is ready; features consult it to choose their fallback. */
  readonly ready: boolean;
  /** Closes the connection if the balancer opened it. */
  close(): Promise<void>;
}

/**
 * Opens (or adopts) the shared Redis connection. A URL gets a client with
 * `enableOfflineQueue: false` so commands fail fast while Redis is away
 * instead of piling up, and one retry per request; errors are reported as
 * `redis` events, never thrown at the process.
 *
 * @example
 * ```ts
 * const shared = connectRedis({ url: 'redis://127.0.0.1:6379', keyPrefix: 'lb:' }, events);
 * await shared.client.ping();
 * ```
 */
export function connectRedis(settings: RedisSettings, events: Events): SharedRedis {
  const owned = settings.client === undefined;
  const client: RedisClient =
    settings.client ??
    new (ioredis().Redis)(settings.url ?? 'redis://127.0.0.1:6379', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
    });
  let ready = client.status === 'ready';
  const onReady = () => {
    ready = true;
    events.emit('redis', { state: 'ready' });
  };
  const onError = (error: Error) => {
    events.emit('redis', { state: 'error', message: error.message });
  };
  const onEnd = () => {
    ready = false;
    events.emit('redis', { state: 'end' });
  };
  const onClose = () => {
    ready = false;
  };
  client.on('ready', onReady);
  client.on('error', onError);
  client.on('close', onClose);
  client.on('end', onEnd);
  return {
    client,
    keyPrefix: settings.keyPrefix,
    get ready() {
      return ready;
    },
    async close() {
      client.off('ready', onReady);
      client.off('close', onClose);
      if (owned && client.status !== 'end') {
        const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
        // Between reconnect attempts there is no socket: disconnect() only cancels the next attempt, and no 'end' follows.
        const socketless = client.status === 'reconnecting' || client.status === 'close';
        try {
          if (socketless) client.disconnect();
          else await client.quit();
        } catch {
          client.disconnect();
        }
        // close() promises released sockets: wait until ioredis says so.
        if (!socketless) await ended;
      }
      client.off('end', onEnd);
      // Late errors from a closing socket must not reach the process.
      client.off('error', onError);
      client.on('error', () => {});
    },
  };
}
