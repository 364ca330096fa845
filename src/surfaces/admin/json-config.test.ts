import { describe, expect, it } from 'vitest';
import { jsonSafeConfig } from './json-config.js';

class Client {
  readonly name = 'main';
}

describe('jsonSafeConfig', () => {
  it('describes functions and objects that are not data, and keeps the data', () => {
    function pick() {}
    const shared = { a: 1 };
    expect(
      jsonSafeConfig({
        n: 1,
        big: Number.POSITIVE_INFINITY,
        list: [1, 'x', undefined],
        gone: undefined,
        pick,
        arrow: () => 0,
        re: /^\/api\//i,
        client: new Client(),
        map: new Map(),
        left: shared,
        right: shared,
      }),
    ).toEqual({
      n: 1,
      big: null,
      list: [1, 'x', null],
      pick: '[function pick]',
      arrow: '[function arrow]',
      re: '/^\\/api\\//i',
      client: '[Client main]',
      map: '[Map]',
      left: { a: 1 },
      right: { a: 1 },
    });
  });

  it('redacts secrets, header values and URL credentials', () => {
    expect(
      jsonSafeConfig({
        sticky: { secret: ['k1', 'k2'], cookieName: 'lb' },
        healthCheck: { headers: { 'x-api-key': 'k', accept: 'json' } },
        redis: { url: 'redis://user:pw@redis.internal:6379/0', keyPrefix: 'sy:' },
        password: 'p',
        authToken: 't',
      }),
    ).toEqual({
      sticky: { secret: '[redacted]', cookieName: 'lb' },
      healthCheck: { headers: { 'x-api-key': '[redacted]', accept: '[redacted]' } },
      redis: { url: 'redis://***:***@redis.internal:6379/0', keyPrefix: 'sy:' },
      password: '[redacted]',
      authToken: '[redacted]',
    });
  });

  it('survives a cycle', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(jsonSafeConfig(loop)).toEqual({ a: 1, self: '[circular]' });
  });
});
