import { describe, expect, it } from 'vitest';
import { parseHttpDate, parseRetryAfter } from './retry-after.js';

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 9, 21, 7, 28, 0);

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  it('reads an HTTP-date relative to the wall clock', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:02 GMT', now)).toBe(2000);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
  });

  it('reads all three HTTP-date forms of RFC 9110 §5.6.7', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wednesday, 21-Oct-26 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed Oct 21 07:28:05 2026', now)).toBe(5000);
    expect(parseRetryAfter('Sat Nov  7 07:28:00 2026', now)).toBe(17 * 24 * 3600 * 1000);
  });

  it('reads a two-digit RFC 850 year more than 50 years ahead as the past century', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 06-Nov-76 08:49:37 GMT', now)).toBe(Date.UTC(2076, 10, 6, 8, 49, 37));
  });

  it('ignores what is neither', () => {
    for (const bad of [
      undefined,
      '',
      '-1',
      '1.5',
      'soon',
      '2026-10-21T07:28:02Z',
      'Wed, 31 Feb 2026 07:28:02 GMT',
      'Wed, 21 Oct 2026 25:28:02 GMT',
      'Wed, 21 Oct 2026 07:28:02 UTC',
      'Wed, 21 Foo 2026 07:28:02 GMT',
      'Wed Oct 21 07:28:05 2026 GMT',
      '21 Oct 2026 07:28:02 GMT',
    ]) {
      expect(parseRetryAfter(bad, now)).toBeUndefined();
    }
  });

  it('takes the first of repeated values', () => {
    expect(parseRetryAfter(['1', '9'], now)).toBe(1000);
  });
});
