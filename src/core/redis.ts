import type { Cluster, Redis } from 'ioredis';
import { ioredis } from '../vendor/dependencies.js';
import { ConfigError } from './errors.js';
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
 * Whether `prefix` carries a Redis Cluster hash tag: a `{` followed, later,
 * by a `}` with at least one character between them (Redis hashes only that
 * part of a key, so every key under the prefix shares one slot).
 *
 * @example
 * ```ts
 * import { hasHashTag } from './redis.js';
 * hasHashTag('{edge}:'); // true
 * hasHashTag('edge:{}'); // false
 * ```
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * Throws `ConfigError` on `redis.keyPrefix` when the client is a Redis
 * Cluster and the prefix has no hash tag.
 *
 * @example
 * ```ts
 * import { checkRedisKeyPrefix } from './redis.js';
 * declare const cluster: import('ioredis').Cluster;
 * checkRedisKeyPrefix({ client: cluster, keyPrefix: 'edge:' }); // throws
 * ```
 */
export function checkRedisKeyPrefix(settings: RedisSettings | undefined): void {
  if (settings?.client?.isCluster !== true || hasHashTag(settings.keyPrefix)) return;
  const name = settings.keyPrefix.replace(/[{}:]+$/g, '') || 'switchyard';
  throw new ConfigError(
    'redis.keyPrefix',
    settings.keyPrefix,
    `a prefix with a hash tag, such as '{${name}}:', with a Redis Cluster client (every key must share one slot)`,
  );
}

/**
 * Opens (or adopts) the shared Redis connection. Throws `ConfigError` on
 * `redis.keyPrefix` when the client is a Redis Cluster and the prefix has no
 * hash tag: the balancer's scripts touch several keys at once, which a
 * cluster refuses (CROSSSLOT) unless they share a slot. A URL gets a client with
 * `enableOfflineQueue: false` so commands fail fast while Redis is away
 * instead of piling up, and one retry per request; errors are reported as
 * `redis` events, never thrown at the process.
 *
 * @example
 * ```ts
 * import { connectRedis } from './redis.js';
 * const shared = connectRedis({ url: 'redis://127.0.0.1:6379', keyPrefix: 'lb:' }, events);
 * await shared.client.ping();
 * ```
 */
export function connectRedis(settings: RedisSettings, events: Events): SharedRedis {
  checkRedisKeyPrefix(settings);
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

/**
 * A connection of its own for pub/sub (a subscribed connection takes no other
 * command), connecting at once even when `client` is lazy; its errors are
 * the main client's business and are swallowed here.
 *
 * @example
 * ```ts
 * import { subscriberOf } from './redis.js';
 * const subscriber = subscriberOf(shared.client);
 * subscriber.on('message', (channel, text) => {});
 * ```
 */
export function subscriberOf(client: RedisClient): Redis | Cluster {
  const subscriber = client.isCluster
    ? (client as Cluster).duplicate(undefined, { lazyConnect: false })
    : (client as Redis).duplicate({ lazyConnect: false });
  subscriber.on('error', () => {});
  return subscriber;
}

/**
 * Closes a connection made by {@link subscriberOf}; resolves once its socket
 * is gone (at once when it is between reconnect attempts and has none).
 *
 * @example
 * ```ts
 * import { closeSubscriber } from './redis.js';
 * declare const subscriber: ReturnType<typeof import('./redis.js').subscriberOf>;
 * await closeSubscriber(subscriber);
 * ```
 */
export async function closeSubscriber(subscriber: Redis | Cluster | undefined): Promise<void> {
  if (!subscriber || subscriber.status === 'end') return;
  // Between reconnect attempts there is no socket: disconnect() only cancels the next attempt, and no 'end' follows.
  const socketless = subscriber.status === 'reconnecting' || subscriber.status === 'close';
  const ended = new Promise<void>((resolve) => subscriber.once('end', () => resolve()));
  subscriber.disconnect();
  if (!socketless) await ended;
}

/**
 * A subscriber ({@link subscriberOf}) on one channel: `onMessage` gets each
 * message's text; `onSubscribed` runs after each (re)subscription, when a
 * feature reloads what it may have missed while disconnected.
 *
 * @example
 * ```ts
 * import { subscribeTo } from './redis.js';
 * const subscriber = subscribeTo(shared.client, 'edge:health', (text) => {}, () => console.log('resubscribed: reload what was missed'));
 * ```
 */
export function subscribeTo(
  client: RedisClient,
  channel: string,
  onMessage: (text: string) => void,
  onSubscribed: () => void,
): Redis | Cluster {
  const subscriber = subscriberOf(client);
  subscriber.on('message', (from: string, text: string) => {
    if (from === channel) onMessage(text);
  });
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(onSubscribed, () => {});
  });
  return subscriber;
}

/**
 * Parses a message from a channel others also write to: `undefined` for
 * anything that is not a JSON object (the caller then checks the fields).
 *
 * @example
 * ```ts
 * import { parseJson } from './redis.js';
 * interface Vote { backend: string; healthy: boolean }
 * const vote = parseJson<Vote>(text);
 * ```
 */
export function parseJson<T>(text: string): T | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
