import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePath, parseAuthority, resolveTarget, splitAbsoluteForm } from './request-target.js';

describe('parseAuthority', () => {
  it('accepts hosts, ports and bracketed IPv6, lower-cased', () => {
    expect(parseAuthority('Example.COM')).toBe('example.com');
    expect(parseAuthority('example.com:8080')).toBe('example.com:8080');
    expect(parseAuthority('127.0.0.1:65535')).toBe('127.0.0.1:65535');
    expect(parseAuthority('[::1]:80')).toBe('[::1]:80');
    expect(parseAuthority('[2001:DB8::1]')).toBe('[2001:db8::1]');
    expect(parseAuthority('xn--bcher-kva.example')).toBe('xn--bcher-kva.example');
  });

  it.each([
    'a b',
    'user@evil',
    'victim/x',
    'a\\b',
    'a?b',
    'a#b',
    'a:',
    'a:65536',
    'a:80x',
    'a:-1',
    ':80',
    '',
    '::1',
    '[::1',
    '[zz::1]',
    '[::1]x',
    'a\tb',
    'a%zz',
    'a:80:80',
  ])('refuses %j', (value) => {
    expect(parseAuthority(value)).toBeUndefined();
  });
});

describe('splitAbsoluteForm', () => {
  it('splits an absolute-form target by hand', () => {
    expect(splitAbsoluteForm('http://Evil.example/page?x=1')).toEqual({ authority: 'evil.example', path: '/page?x=1' });
    expect(splitAbsoluteForm('https://a:8443')).toEqual({ authority: 'a:8443', path: '/' });
    expect(splitAbsoluteForm('http://a?q')).toEqual({ authority: 'a', path: '/?q' });
    expect(splitAbsoluteForm('http://a/b#frag')).toEqual({ authority: 'a', path: '/b' });
  });

  it('refuses userinfo, a bad authority or another scheme', () => {
    expect(splitAbsoluteForm('http://user@evil/x')).toBeUndefined();
    expect(splitAbsoluteForm('http://a b/x')).toBeUndefined();
    expect(splitAbsoluteForm('http:///x')).toBeUndefined();
    expect(splitAbsoluteForm('ftp://a/x')).toBeUndefined();
    expect(splitAbsoluteForm('http://a\\b/x')).toBeUndefined();
  });
});

describe('resolveTarget', () => {
  it('lets the absolute-form authority replace Host', () => {
    expect(resolveTarget('http://evil.example/page', 'victim.example')).toEqual({
      path: '/page',
      authority: 'evil.example',
    });
  });

  it('refuses an invalid Host even beside an absolute-form target', () => {
    expect(typeof resolveTarget('http://a/x', 'a b')).toBe('string');
    expect(typeof resolveTarget('/x', 'victim/x')).toBe('string');
    expect(typeof resolveTarget('*', 'a')).toBe('string');
  });

  it('accepts a request without Host (HTTP/1.0) with an empty authority', () => {
    expect(resolveTarget('/x', undefined)).toEqual({ path: '/x', authority: '' });
  });
});

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['//private/data', '/private/data'],
    ['/\\private/data', '/private/data'],
    ['/%2e%2e/private', '/private'],
    ['/a/%2E/b', '/a/b'],
    ['/a/../../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/%2Fprivate', '/private'],
    ['/%5cprivate', '/private'],
    ['/a%2fb', '/a/b'],
    ['/%70rivate', '/private'],
    ['/a%3fb', '/a%3Fb'],
    ['/a?x=//y', '/a'],
    ['/a//b///c', '/a/b/c'],
    ['/a/.../b', '/a/.../b'],
    ['/%zz', '/%zz'],
  ])('reads %j as %j', (input, output) => {
    expect(normalizePath(input)).toBe(output);
  });

  it('is idempotent, starts with one slash and never keeps a dot segment', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', '.', '..', '', '%2e', '%2E%2e', '\\', '%2f', 'b%41', '%', '?'), {
          maxLength: 12,
        }),
        (parts) => {
          const out = normalizePath(`/${parts.join('/')}`);
          expect(normalizePath(out)).toBe(out);
          expect(out.startsWith('/')).toBe(true);
          expect(out.startsWith('//')).toBe(false);
          expect(out.split('/')).not.toContain('..');
          expect(out.split('/')).not.toContain('.');
        },
      ),
    );
  });
});
