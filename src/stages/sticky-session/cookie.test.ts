import { describe, expect, it } from 'vitest';
import { CookieSigner, findCookie, MAX_COOKIE_SCAN, removeCookie, serializeCookie } from './cookie.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

describe('findCookie', () => {
  it('finds a cookie among others, with or without quotes and spaces', () => {
    expect(findCookie('a=1; lb=x.y; b=2', 'lb')?.value).toBe('x.y');
    expect(findCookie('lb="quoted"', 'lb')?.value).toBe('quoted');
    expect(findCookie('  lb=v  ;', 'lb')?.value).toBe('v');
    expect(findCookie('xlb=1; lb2=3', 'lb')).toBeUndefined();
    expect(findCookie('lb=; a=1', 'lb')).toBeUndefined();
  });

  it('searches a huge header only up to the scan limit', () => {
    const filler = 'x'.repeat(MAX_COOKIE_SCAN);
    expect(findCookie(`${filler}; lb=v`, 'lb')).toBeUndefined();
    expect(findCookie(`lb=${'v'.repeat(MAX_COOKIE_SCAN * 4)}`, 'lb')).toBeUndefined();
    expect(findCookie(`lb=v; ${filler}`, 'lb')?.value).toBe('v');
  });

  it('survives malformed headers', () => {
    for (const header of [';;;', '=', 'lb', '=lb=1', ' ; ; lb', '\t', 'lb="', 'lb==']) {
      expect(() => findCookie(header, 'lb')).not.toThrow();
    }
    expect(findCookie('lb==', 'lb')?.value).toBe('=');
  });
});

describe('removeCookie', () => {
  it('removes the cookie and keeps the others', () => {
    const cases: Array<[string, string | undefined]> = [
      ['a=1; lb=x; b=2', 'a=1; b=2'],
      ['lb=x; b=2', 'b=2'],
      ['a=1; lb=x', 'a=1'],
      ['lb=x', undefined],
    ];
    for (const [header, expected] of cases) {
      const range = findCookie(header, 'lb');
      expect(range).toBeDefined();
      expect(removeCookie(header, range!)).toBe(expected);
    }
  });
});

describe('serializeCookie', () => {
  it('writes every attribute, and Secure whenever SameSite is None', () => {
    const base = { path: '/', maxAgeSeconds: 60, httpOnly: true, sameSite: 'Lax', secure: false } as const;
    expect(serializeCookie('lb', 'v', base)).toBe('lb=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
    expect(serializeCookie('lb', 'v', { ...base, secure: true, domain: 'example.com', httpOnly: false })).toBe(
      'lb=v; Path=/; Domain=example.com; Max-Age=60; SameSite=Lax; Secure',
    );
    expect(serializeCookie('lb', 'v', { ...base, sameSite: 'None' })).toMatch(/SameSite=None; Secure$/);
  });
});

describe('CookieSigner', () => {
  const signer = new CookieSigner([SECRET]);
  const now = 1_800_000_000;

  it('verifies what it signed', () => {
    const value = signer.sign('backend-1', now + 60);
    expect(signer.verify(value, now)).toEqual({ id: 'backend-1', expiresAt: now + 60 });
  });

  it('rejects a tampered backend id, expiry or signature', () => {
    const value = signer.sign('a', now + 60);
    const [id, expiry, sig] = value.split('.') as [string, string, string];
    const forgedId = `${Buffer.from('b').toString('base64url')}.${expiry}.${sig}`;
    const forgedExpiry = `${id}.${(now + 99999).toString(36)}.${sig}`;
    const flipped = `${id}.${expiry}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expect(signer.verify(forgedId, now)).toBe(false);
    expect(signer.verify(forgedExpiry, now)).toBe(false);
    expect(signer.verify(flipped, now)).toBe(false);
  });

  it('rejects malformed values without throwing', () => {
    for (const value of ['', '.', '..', 'a.b', 'a.b.c', 'x'.repeat(10_000), `a.b.${'é'.repeat(22)}`, 'a..'.repeat(9)]) {
      expect(signer.verify(value, now)).toBe(false);
    }
  });

  it('rejects a value signed with another secret', () => {
    const other = new CookieSigner(['another-secret-of-at-least-thirty-two-chars']);
    expect(signer.verify(other.sign('a', now + 60), now)).toBe(false);
  });

  it('reports a well-signed expired value as expired, not forged', () => {
    expect(signer.verify(signer.sign('a', now - 1), now)).toBeUndefined();
  });

  it('signs the same backend and expiry to the same value, and a new expiry or backend afresh', () => {
    const fresh = new CookieSigner([SECRET]);
    const first = fresh.sign('a', now + 60);
    expect(fresh.sign('a', now + 60)).toBe(first);
    const later = fresh.sign('a', now + 61);
    expect(later).not.toBe(first);
    expect(fresh.verify(later, now)).toEqual({ id: 'a', expiresAt: now + 61 });
    expect(fresh.verify(fresh.sign('b', now + 61), now)).toEqual({ id: 'b', expiresAt: now + 61 });
    // Past the memo's bound every value is still signed right.
    for (let i = 0; i < 300; i++)
      expect(fresh.verify(fresh.sign(`id-${i}`, now + 60), now)).toMatchObject({ id: `id-${i}` });
    expect(fresh.verify(fresh.sign('a', now + 61), now)).toEqual({ id: 'a', expiresAt: now + 61 });
  });

  it('verifies with every secret and signs with the first (rotation)', () => {
    const old = new CookieSigner([SECRET]);
    const rotated = new CookieSigner(['the-new-secret-of-at-least-thirty-two-chars', SECRET]);
    expect(rotated.verify(old.sign('a', now + 60), now)).toEqual({ id: 'a', expiresAt: now + 60 });
    expect(old.verify(rotated.sign('a', now + 60), now)).toBe(false);
  });
});
