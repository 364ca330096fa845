import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from '../../test/redis.js';
import { createLoadBalancer } from '../balancer.js';
import { ConfigError } from './errors.js';
import { Events, type SwitchyardEvents } from './events.js';
import { checkRedisKeyPrefix, connectRedis, hasHashTag, type SharedRedis } from './redis.js';

let shared: SharedRedis | undefined;
afterEach(async () => {
  await shared?.close();
  shared = undefined;
});

describeRedis('connectRedis', () => {
  it('connects to a URL, reports ready, and closes the connection it owns', async () => {
    const events = new Events();
    const seen: SwitchyardEvents['redis'][] = [];
    events.on('redis', (e) => seen.push(e));
    const prefix = uniquePrefix('connect');
    shared = connectRedis({ url: REDIS_URL, keyPrefix: prefix }, events);
    await new Promise<void>((resolve) => events.once('redis', () => resolve()));
    expect(shared.ready).toBe(true);
    await shared.client.set(`${prefix}k`, 'v');
    expect(await shared.client.get(`${prefix}k`)).toBe('v');
    await deleteKeys(shared.client as never, prefix);
    await shared.close();
    expect(shared.client.status).toBe('end');
    shared = undefined;
    expect(seen[0]).toEqual({ state: 'ready' });
  });

  it('adopts a caller client without closing it', async () => {
    const client = testClient();
    try {
      shared = connectRedis({ client, keyPrefix: 'x:' }, new Events());
      await shared.close();
      shared = undefined;
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
});

describeRedis('connectRedis without a server', () => {
  it('closes a connection that is between reconnect attempts', async () => {
    shared = connectRedis({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:' }, new Events());
    const client = shared.client;
    await new Promise<void>((resolve) => client.once('reconnecting', () => resolve()));
    await shared.close();
    shared = undefined;
    expect(client.status).not.toBe('ready');
  });
});

describe('Redis Cluster key prefixes', () => {
  it('recognises a hash tag only with something between the braces', () => {
    expect(hasHashTag('{edge}:')).toBe(true);
    expect(hasHashTag('lb:{edge}:')).toBe(true);
    expect(hasHashTag('edge:')).toBe(false);
    expect(hasHashTag('{}edge:')).toBe(false);
    expect(hasHashTag('edge}{:')).toBe(false);
    expect(hasHashTag('{edge:')).toBe(false);
  });

  it('refuses an untagged prefix with a Cluster client, naming redis.keyPrefix, and accepts it with a plain client', () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    try {
      let error: unknown;
      try {
        checkRedisKeyPrefix({ client: cluster, keyPrefix: 'edge:' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ path: 'redis.keyPrefix', value: 'edge:' });
      expect((error as Error).message).toContain("'{edge}:'");
      expect(() => checkRedisKeyPrefix({ client: cluster, keyPrefix: '{edge}:' })).not.toThrow();
      expect(() => checkRedisKeyPrefix({ url: 'redis://x', keyPrefix: 'edge:' })).not.toThrow();
      // No keyPrefix given: the default carries the tag, so nothing complains about an option not set.
      const lb = createLoadBalancer({ redis: cluster });
      expect(lb.config.redis?.keyPrefix).toBe('{switchyard}:');
      return lb.close();
    } finally {
      cluster.disconnect();
    }
  });
});
