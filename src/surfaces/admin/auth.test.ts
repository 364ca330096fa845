import { describe, expect, it } from 'vitest';
import { bearerCheck } from './auth.js';

describe('bearerCheck', () => {
  const authorized = bearerCheck('0123456789abcdef-token');

  it('accepts the token under the Bearer scheme, case-insensitively and with extra spaces', () => {
    expect(authorized('Bearer 0123456789abcdef-token')).toBe(true);
    expect(authorized('bearer   0123456789abcdef-token ')).toBe(true);
  });

  it('refuses a missing, empty, different, longer, shorter or differently framed token', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Bearer 0123456789abcdef-tokeN',
      'Bearer 0123456789abcdef-token2',
      'Bearer 0123456789abcdef-toke',
      'Basic 0123456789abcdef-token',
      '0123456789abcdef-token',
    ]) {
      expect(authorized(header), String(header)).toBe(false);
    }
  });
});
