import { describe, expect, it } from 'vitest';
import { ageOf, freshnessLifetime, parseCacheControl } from './cache-control.js';

describe('parseCacheControl', () => {
  it('reads the directives a shared cache acts on, case-insensitively', () => {
    const d = parseCacheControl('Public, MAX-AGE=60, s-maxage="120", must-revalidate');
    expect(d).toMatchObject({ public: true, maxAge: 60, sMaxAge: 120, mustRevalidate: true, noStore: false });
    expect(parseCacheControl(['no-store', 'private']).noStore).toBe(true);
    expect(parseCacheControl(['no-store', 'private']).private).toBe(true);
  });

  it('treats qualified no-cache and private as the unqualified directive', () => {
    const d = parseCacheControl('no-cache="Set-Cookie, X-Foo", private="X-Bar", max-age=5');
    expect(d).toMatchObject({ noCache: true, private: true, maxAge: 5 });
  });

  it('treats an invalid max-age as 0 (stale) and keeps the first of a repeated directive', () => {
    expect(parseCacheControl('max-age=abc').maxAge).toBe(0);
    expect(parseCacheControl('max-age=10, max-age=99').maxAge).toBe(10);
    expect(parseCacheControl('max-age=99999999999999').maxAge).toBe(2_147_483_648);
  });

  it('reads a hostile header in bounded time', () => {
    const start = performance.now();
    const d = parseCacheControl(`${'x,'.repeat(1_000_000)}no-store`);
    expect(performance.now() - start).toBeLessThan(200);
    expect(d.noStore).toBe(false);
  });
});

describe('freshnessLifetime', () => {
  const wall = Date.parse('2030-01-01T00:00:00Z');

  it('prefers s-maxage, then max-age, then Expires minus Date', () => {
    expect(freshnessLifetime(parseCacheControl('max-age=10, s-maxage=20'), undefined, undefined, wall)).toBe(20_000);
    expect(freshnessLifetime(parseCacheControl('max-age=10'), 'Wed, 01 Jan 2031 00:00:00 GMT', undefined, wall)).toBe(
      10_000,
    );
    expect(
      freshnessLifetime(
        parseCacheControl(undefined),
        'Tue, 01 Jan 2030 00:01:00 GMT',
        'Tue, 01 Jan 2030 00:00:00 GMT',
        0,
      ),
    ).toBe(60_000);
  });

  it('measures Expires from now without Date, treats an invalid Expires as stale, and says nothing without either', () => {
    expect(freshnessLifetime(parseCacheControl(undefined), 'Tue, 01 Jan 2030 00:00:30 GMT', undefined, wall)).toBe(
      30_000,
    );
    expect(freshnessLifetime(parseCacheControl(undefined), '0', undefined, wall)).toBe(0);
    expect(freshnessLifetime(parseCacheControl('public'), undefined, undefined, wall)).toBeUndefined();
  });
});

describe('ageOf', () => {
  it('reads Age in milliseconds, 0 when absent or invalid', () => {
    expect(ageOf('30')).toBe(30_000);
    expect(ageOf(undefined)).toBe(0);
    expect(ageOf('-5')).toBe(0);
    expect(ageOf('soon')).toBe(0);
  });
});
