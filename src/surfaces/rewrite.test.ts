import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../core/errors.js';
import { createRewrite, replacePrefix, rewriteSchema, underPrefix } from './rewrite.js';

const req = {} as IncomingMessage;

describe('path rewriting', () => {
  it('matches a prefix on whole segments only', () => {
    expect(underPrefix('/api', '/api')).toBe(true);
    expect(underPrefix('/api/x', '/api')).toBe(true);
    expect(underPrefix('/api?x=1', '/api')).toBe(true);
    expect(underPrefix('/apix', '/api')).toBe(false);
    expect(underPrefix('/ap', '/api')).toBe(false);
    expect(underPrefix('/anything', '/')).toBe(true);
  });

  it('replaces the prefix and keeps the rest and the query', () => {
    expect(replacePrefix('/api/users?page=2', '/api', '/')).toBe('/users?page=2');
    expect(replacePrefix('/api', '/api', '/')).toBe('/');
    expect(replacePrefix('/api?x', '/api', '/')).toBe('/?x');
    expect(replacePrefix('/api/users', '/api', '/v2')).toBe('/v2/users');
    expect(replacePrefix('/api/users', '/api', '/v2/')).toBe('/v2/users');
    expect(replacePrefix('/api', '/api', '/v2')).toBe('/v2');
    expect(replacePrefix('/x/y', '/', '/base')).toBe('/base/x/y');
    expect(replacePrefix('/apix/users', '/api', '/')).toBe('/apix/users');
  });

  it('ignores a trailing slash on the configured prefix', () => {
    expect(createRewrite({ prefix: '/api/', to: '/' })?.('/api/users', req)).toBe('/users');
  });

  it('refuses a rewrite function that returns no path, with ERR_MIDDLEWARE', () => {
    const bad = createRewrite(() => 'http://elsewhere/');
    expect(() => bad?.('/x', req)).toThrow(SwitchyardError);
    expect(() => createRewrite(() => '/a b')?.('/x', req)).toThrow(/rewrite function/);
    expect(() => createRewrite((() => 42) as never)?.('/x', req)).toThrow(/rewrite function/);
    expect(createRewrite((path) => `/v2${path}`)?.('/x?y', req)).toBe('/v2/x?y');
  });

  it('validates the object form', () => {
    expect(rewriteSchema.safeParse({ prefix: 'api', to: '/' }).success).toBe(false);
    expect(rewriteSchema.safeParse({ prefix: '/api', to: '/?x' }).success).toBe(false);
    expect(rewriteSchema.safeParse({ prefix: '/api', to: '/', extra: 1 }).success).toBe(false);
    expect(rewriteSchema.safeParse({ prefix: '/api', to: '/' }).success).toBe(true);
  });
});
