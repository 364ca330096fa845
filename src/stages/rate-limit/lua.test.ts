import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteKeys, describeRedis, testClient, uniquePrefix } from '../../../test/redis.js';
import { evalScript, script } from './lua.js';

describeRedis('evalScript', () => {
  let client: Redis;
  const prefix = uniquePrefix('lua');
  beforeAll(() => {
    client = testClient();
  });
  afterAll(async () => {
    await deleteKeys(client, prefix);
    client.disconnect();
  });

  it('falls back to EVAL on NOSCRIPT, which caches the script for the next EVALSHA', async () => {
    // A script Redis has never seen: EVALSHA must answer NOSCRIPT first.
    const fresh = script(`-- ${randomUUID()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
    expect(await client.script('EXISTS', fresh.sha)).toEqual([0]);
    expect(await evalScript(client, fresh, `${prefix}n`, [5])).toBe(5);
    expect(await client.script('EXISTS', fresh.sha)).toEqual([1]);
    expect(await evalScript(client, fresh, `${prefix}n`, [2])).toBe(7);
  });

  it('passes other script errors on', async () => {
    const broken = script(`-- ${randomUUID()}\nreturn redis.call('NOPE')`);
    await expect(evalScript(client, broken, `${prefix}x`, [])).rejects.toThrow(/NOPE|Unknown/i);
  });
});
