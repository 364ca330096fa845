import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { Context } from '../../core/context.js';
import { normalizePath } from '../../core/net/request-target.js';
import { boundKey, compileKey, ipKey, MAX_KEY_LENGTH } from './keys.js';

function ctx(fields: { address?: string; method?: string; path?: string; headers?: IncomingHttpHeaders }): Context {
  const path = fields.path ?? '/';
  return {
    clientAddress: fields.address ?? '10.0.0.1',
    method: fields.method ?? 'GET',
    path,
    routePath: normalizePath(path),
    req: { headers: fields.headers ?? {} },
  } as unknown as Context;
}

describe('rate-limit keys', () => {
  it('keys IPv6 clients by their /64 (or the configured prefix) and IPv4 by address', () => {
    expect(ipKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64)).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8:1:2::1', 64)).toBe(ipKey('2001:db8:1:2:ffff::9', 64));
    expect(ipKey('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200::/56');
    expect(ipKey('::1', 64)).toBe('0:0:0:0::/64');
    expect(ipKey('fe80::1%eth0', 64)).toBe('fe80:0:0:0::/64');
    expect(ipKey('2001:db8::1', false)).toBe('2001:db8::1');
    expect(ipKey('203.0.113.9', 64)).toBe('203.0.113.9');
  });

  it('replaces a key longer than the bound by a digest that still tells values apart', () => {
    const a = boundKey(`h:${'a'.repeat(10_000)}`);
    const b = boundKey(`h:${'a'.repeat(9_999)}b`);
    expect(a.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
    expect(a.startsWith('h:#')).toBe(true);
    expect(a).not.toBe(b);
    expect(boundKey('h:short')).toBe('h:short');
  });

  it('keys by a header, and by IP when the header is missing or empty', () => {
    const resolve = compileKey({ header: 'x-api-key' }, 64, () => {});
    expect(resolve(ctx({ headers: { 'x-api-key': 'k1' } }))).toBe('h:k1');
    expect(resolve(ctx({ headers: {} }))).toBe('ip:10.0.0.1');
    expect(resolve(ctx({ headers: { 'x-api-key': '' } }))).toBe('ip:10.0.0.1');
    // A header value spelled like an IP never shares the IP's bucket.
    expect(resolve(ctx({ headers: { 'x-api-key': '10.0.0.1' } }))).not.toBe(resolve(ctx({})));
  });

  it('keys by method and path without the query', () => {
    const resolve = compileKey('route', 64, () => {});
    expect(resolve(ctx({ method: 'POST', path: '/login?next=/x' }))).toBe('r:POST /login');
    expect(resolve(ctx({ method: 'POST', path: '/a/../login' }))).toBe('r:POST /login');
  });

  it('keys by the first matching route entry and skips paths matching none', () => {
    const resolve = compileKey({ route: ['/api/', /^\/users\/\d+$/g] }, 64, () => {});
    expect(resolve(ctx({ path: '/api/v1/x?y' }))).toBe('r:/api/');
    // The g flag is dropped: no lastIndex state between requests.
    expect(resolve(ctx({ path: '/users/42' }))).toBe('r:/^\\/users\\/\\d+$/');
    expect(resolve(ctx({ path: '/users/42' }))).toBe('r:/^\\/users\\/\\d+$/');
    expect(resolve(ctx({ path: '/static/app.js' }))).toBeUndefined();
  });

  it('falls back to the IP and warns when a key function throws or returns junk', () => {
    const warn = vi.fn();
    const throwing = compileKey(
      () => {
        throw new Error('boom');
      },
      64,
      warn,
    );
    expect(throwing(ctx({}))).toBe('ip:10.0.0.1');
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('boom'));
    const junk = compileKey(() => 42 as unknown as string, 64, warn);
    expect(junk(ctx({}))).toBe('ip:10.0.0.1');
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('exempts a request when the key function returns undefined, and bounds its keys', () => {
    const resolve = compileKey(
      (c) => (c.path === '/free' ? undefined : `user:${c.path}`),
      64,
      () => {},
    );
    expect(resolve(ctx({ path: '/free' }))).toBeUndefined();
    expect(resolve(ctx({ path: '/u' }))).toBe('f:user:/u');
    expect(resolve(ctx({ path: `/${'x'.repeat(5000)}` }))?.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
  });
});
