import { afterEach, expect, it } from 'vitest';
import { deleteKeys, describeRedis, REDIS_URL, testClient, uniquePrefix } from '../../test/redis.js';
import { Events, type SwitchyardEvents } from './events.js';
import { connectRedis, type SharedRedis } from './redis.js';

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
