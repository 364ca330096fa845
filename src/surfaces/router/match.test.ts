import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { parseOptions } from '../../core/zod.js';
import { RouteTable, requestHost } from './match.js';
import { type RouteOptions, routesSchema } from './options.js';
import { rewriteTarget } from './path.js';

function table(routes: RouteOptions[]): RouteTable {
  return new RouteTable(parseOptions(routesSchema, routes, 'routes'));
}

function poolOf(
  t: RouteTable,
  host: string | undefined,
  path: string,
  method = 'GET',
  headers = {},
): string | undefined {
  return t.match(host, path, method, headers)?.route.pool;
}

describe('RouteTable', () => {
  it('prefers an exact host, then the most specific wildcard, then host-less routes', () => {
    const t = table([
      { pool: 'any' },
      { host: '*.example.com', pool: 'wild' },
      { host: '*.eu.example.com', pool: 'eu' },
      { host: 'api.example.com', pool: 'api' },
    ]);
    expect(poolOf(t, 'api.example.com', '/')).toBe('api');
    expect(poolOf(t, 'www.example.com', '/')).toBe('wild');
    expect(poolOf(t, 'a.b.example.com', '/')).toBe('wild');
    expect(poolOf(t, 'x.eu.example.com', '/')).toBe('eu');
    expect(poolOf(t, 'example.com', '/')).toBe('any');
    expect(poolOf(t, undefined, '/')).toBe('any');
  });

  it('falls through to the next host level when a host has no matching path', () => {
    const t = table([
      { host: 'api.example.com', prefix: '/v1', pool: 'api' },
      { prefix: '/', pool: 'default' },
    ]);
    expect(poolOf(t, 'api.example.com', '/v1/users')).toBe('api');
    expect(poolOf(t, 'api.example.com', '/v2')).toBe('default');
  });

  it('orders exact, then patterns, then the longest prefix, on segment boundaries', () => {
    const t = table([
      { prefix: '/', pool: 'root' },
      { prefix: '/api', pool: 'api' },
      { prefix: '/api/v2/', pool: 'v2' },
      { pattern: '/api/users/:id', pool: 'user' },
      { exact: '/api/users/me', pool: 'me' },
    ]);
    expect(poolOf(t, undefined, '/api/users/me')).toBe('me');
    expect(poolOf(t, undefined, '/api/users/42')).toBe('user');
    expect(poolOf(t, undefined, '/api/users/42/x')).toBe('api');
    expect(poolOf(t, undefined, '/api/v2/things')).toBe('v2');
    expect(poolOf(t, undefined, '/api/v2')).toBe('v2');
    expect(poolOf(t, undefined, '/apix')).toBe('root');
    expect(poolOf(t, undefined, '/api')).toBe('api');
  });

  it('captures pattern parameters and a final wildcard', () => {
    const t = table([{ pattern: '/users/:id/files/*', pool: 'files' }]);
    expect(t.match(undefined, '/users/7/files/a/b.txt', 'GET', {})?.params).toEqual({ id: '7', '*': 'a/b.txt' });
    expect(t.match(undefined, '/users/7/files', 'GET', {})?.params).toEqual({ id: '7', '*': '' });
    expect(t.match(undefined, '/users//files', 'GET', {})).toBeUndefined();
  });

  it('checks method and header conditions, more specific first, skipping to the next candidate', () => {
    const t = table([
      { prefix: '/api', pool: 'read' },
      { prefix: '/api', methods: ['POST', 'PUT'], pool: 'write' },
      { prefix: '/api', headers: { 'x-canary': '1' }, methods: ['GET'], pool: 'canary' },
      { prefix: '/api', headers: { 'x-beta': { regex: '^yes' } }, pool: 'beta' },
      { prefix: '/', headers: { authorization: true }, pool: 'authed' },
    ]);
    expect(poolOf(t, undefined, '/api/x', 'GET')).toBe('read');
    expect(poolOf(t, undefined, '/api/x', 'POST')).toBe('write');
    expect(poolOf(t, undefined, '/api/x', 'GET', { 'x-canary': '1' })).toBe('canary');
    expect(poolOf(t, undefined, '/api/x', 'POST', { 'x-canary': '1' })).toBe('write');
    expect(poolOf(t, undefined, '/api/x', 'GET', { 'x-beta': 'yes please' })).toBe('beta');
    expect(poolOf(t, undefined, '/other', 'GET', { authorization: 'Bearer x' })).toBe('authed');
    expect(poolOf(t, undefined, '/other', 'GET')).toBeUndefined();
  });

  it('matches host names case-insensitively and rejects a bad route with its path', () => {
    const t = table([{ host: ['API.example.com.', 'b.example.com'], pool: 'api' }]);
    expect(poolOf(t, requestHost('api.example.com:8443'), '/')).toBe('api');
    expect(poolOf(t, requestHost('b.example.com.'), '/')).toBe('api');
    expect(() => table([{ host: 'bad host', pool: 'x' }])).toThrow(/routes\[0\]\.host/);
    expect(() => table([{ prefix: '/a', exact: '/b', pool: 'x' }])).toThrow(ConfigError);
    expect(() => table([{ pattern: '/a/:id', rewrite: { stripPrefix: true }, pool: 'x' }])).toThrow(
      /routes\[0\]\.rewrite/,
    );
    expect(() => table([{ headers: { 'x-a': { regex: '(' } }, pool: 'x' }])).toThrow(/headers\.x-a\.regex/);
  });
});

describe('requestHost', () => {
  it('drops the port and a final dot of a validated authority', () => {
    expect(requestHost('b.example.com:81')).toBe('b.example.com');
    expect(requestHost('[::1]:8080')).toBe('[::1]');
    expect(requestHost('')).toBeUndefined();
    expect(requestHost(undefined)).toBeUndefined();
  });
});

describe('rewriteTarget', () => {
  it('strips or replaces the matched prefix of the raw path, keeping the query', () => {
    expect(rewriteTarget('/api/users?page=2', '/api/users', '/api', '/')).toBe('/users?page=2');
    expect(rewriteTarget('/api', '/api', '/api', '/')).toBe('/');
    expect(rewriteTarget('/api/users', '/api/users', '/api', '/v2/')).toBe('/v2/users');
    expect(rewriteTarget('/x/y', '/x/y', '/', '/base')).toBe('/base/x/y');
  });

  it('rewrites the normalised path when only it starts with the prefix', () => {
    expect(rewriteTarget('/other/../api/x?q', '/api/x', '/api', '/')).toBe('/x?q');
  });

  it('keeps the authority of an absolute-form target', () => {
    expect(rewriteTarget('http://h:1/api/x', '/api/x', '/api', '/')).toBe('http://h:1/x');
  });
});
