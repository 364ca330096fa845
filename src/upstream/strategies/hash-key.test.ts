import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import type { SelectionContext } from '../../core/strategy.js';
import { createHashKey, findCookie, type HashKeyOption, MAX_COOKIE_SCAN } from './hash-key.js';

function request(headers: IncomingHttpHeaders, clientAddress = '10.0.0.1'): [IncomingMessage, SelectionContext] {
  const req = { headers } as IncomingMessage;
  return [req, { req, clientAddress, now: 0, attempt: 1 }];
}

function keyOf(option: HashKeyOption, headers: IncomingHttpHeaders, ip = '10.0.0.1'): string {
  return createHashKey(option).key(...request(headers, ip));
}

describe('createHashKey', () => {
  it("keys 'ip' on the client address, IPv4-mapped IPv6 as plain IPv4", () => {
    expect(keyOf('ip', {}, '192.0.2.7')).toBe('192.0.2.7');
    expect(keyOf('ip', {}, '::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(keyOf('ip', {}, '2001:db8::1')).toBe('2001:db8::1');
    const key = createHashKey('ip');
    expect(key.hash(...request({}, '::ffff:192.0.2.7'))).toBe(key.hash(...request({}, '192.0.2.7')));
  });

  it('keys on a header, its name case-insensitive, then the fallback header, then the client IP', () => {
    const option = { header: 'X-User', fallback: 'X-Forwarded-For' };
    expect(keyOf(option, { 'x-user': 'alice', 'x-forwarded-for': '1.1.1.1' })).toBe('alice');
    expect(keyOf(option, { 'x-user': '', 'x-forwarded-for': '1.1.1.1' })).toBe('1.1.1.1');
    expect(keyOf(option, {}, '10.9.9.9')).toBe('10.9.9.9');
    expect(keyOf({ header: 'x-user' }, {}, '10.9.9.9')).toBe('10.9.9.9');
    expect(keyOf({ header: 'x-user' }, { 'x-user': ['bob', 'carol'] } as IncomingHttpHeaders)).toBe('bob');
  });

  it('keys on a cookie, quoted or not, and ignores cookies whose name merely ends or starts the same', () => {
    const option = { cookie: 'session' };
    expect(keyOf(option, { cookie: 'session=abc' })).toBe('abc');
    expect(keyOf(option, { cookie: 'xsession=no; session=abc; sessionid=no' })).toBe('abc');
    expect(keyOf(option, { cookie: 'a=1;session="q v";b=2' })).toBe('q v');
    expect(keyOf(option, { cookie: 'a=1;\tsession=abc  ' })).toBe('abc');
    expect(keyOf(option, { cookie: 'session=; a=1' }, '10.1.1.1')).toBe('10.1.1.1');
    expect(keyOf(option, { cookie: 'session=""' }, '10.1.1.1')).toBe('10.1.1.1');
    expect(keyOf(option, { cookie: 'Session=abc' }, '10.1.1.1')).toBe('10.1.1.1');
    expect(keyOf(option, {}, '10.1.1.1')).toBe('10.1.1.1');
  });

  it('searches only the first 16 KiB of a huge cookie header, in bounded time', () => {
    const filler = `${'junk=x; '.repeat(200_000)}`; // 1.6 MB
    const found = findCookie(`session=abc; ${filler}`, 'session');
    expect(found).toBe(8);
    expect(keyOf({ cookie: 'session' }, { cookie: `${filler}session=late` }, '10.2.2.2')).toBe('10.2.2.2');
    const straddling = `${'a'.repeat(MAX_COOKIE_SCAN - 10)}; session=${'v'.repeat(50)}`;
    expect(findCookie(straddling, 'session')).toBe(-1);
    // Bounded: a 16 MB header costs about what a 16 KiB one does (a full scan would cost 1000x).
    const flat = (text: string): string => {
      text.charCodeAt(text.length - 1); // flatten the rope once, as a parsed header is
      return text;
    };
    const small = flat(`${'junk=x; '.repeat(MAX_COOKIE_SCAN / 8)}x`);
    const huge = flat(`${'junk=x; '.repeat(2_000_000)}x`);
    const time = (header: string): number => {
      const start = performance.now();
      for (let i = 0; i < 2000; i++) findCookie(header, 'session');
      return performance.now() - start;
    };
    time(small);
    time(huge);
    expect(time(huge)).toBeLessThan(4 * time(small) + 50);
  });

  it('keys on a function, falling back to the client IP when it throws or returns nothing', () => {
    expect(keyOf((req) => req.headers['x-tenant'] as string | undefined, { 'x-tenant': 't1' })).toBe('t1');
    expect(keyOf(() => undefined, {}, '10.3.3.3')).toBe('10.3.3.3');
    expect(keyOf(() => '', {}, '10.3.3.3')).toBe('10.3.3.3');
    expect(
      keyOf(
        () => {
          throw new Error('boom');
        },
        {},
        '10.3.3.3',
      ),
    ).toBe('10.3.3.3');
    expect(keyOf((() => 42) as unknown as () => string, {}, '10.3.3.3')).toBe('10.3.3.3');
  });

  it('hashes exactly the key it reports, for every kind of key', () => {
    const options: HashKeyOption[] = [
      'ip',
      { header: 'x-user', fallback: 'x-alt' },
      { cookie: 'sid' },
      (req) => req.headers['x-user'] as string | undefined,
    ];
    const keys = options.map((o) => createHashKey(o));
    const reference = createHashKey((_req, ctx) => ctx.clientAddress);
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string()),
        fc.option(fc.string()),
        fc.option(fc.string()),
        (ip, user, alt, sid) => {
          const headers: IncomingHttpHeaders = {};
          if (user !== null) headers['x-user'] = user;
          if (alt !== null) headers['x-alt'] = alt;
          if (sid !== null) headers.cookie = `a=1; sid=${sid}`;
          const [req, ctx] = request(headers, ip);
          for (const key of keys) {
            const k = key.key(req, ctx);
            const [r2, c2] = request({}, k);
            // The same string hashed as an IP key (bar the ::ffff: rule) gives the same hash.
            if (!k.startsWith('::ffff:')) expect(key.hash(req, ctx)).toBe(reference.hash(r2, c2));
          }
        },
      ),
    );
  });

  it('rejects a key source that does not exist with a ConfigError naming the path', () => {
    expect(() => createHashKey('nope' as HashKeyOption)).toThrow(ConfigError);
    expect(() => createHashKey('nope' as HashKeyOption)).toThrow(/strategy\.key\b.*'ip'/);
    expect(() => createHashKey({ header: '' })).toThrow(/strategy\.key\.header/);
    expect(() => createHashKey({ cookie: 'a b' })).toThrow(/strategy\.key\.cookie/);
    expect(() => createHashKey({ header: 'x', extra: 1 } as HashKeyOption)).toThrow(/strategy\.key\.extra/);
    expect(() => createHashKey({} as HashKeyOption)).toThrow(ConfigError);
  });
});
