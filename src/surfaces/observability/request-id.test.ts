import { describe, expect, it } from 'vitest';
import { requestId } from './request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestId', () => {
  it('keeps a well-formed id from the client', () => {
    for (const id of ['abc', '0b7c5e0e-2b1f-4e8b-9a7f-1d2c3b4a5f60', 'req_123.4:5@6+7=8/9~-', 'x'.repeat(128)]) {
      expect(requestId(id)).toBe(id);
    }
  });

  it('generates a UUID when the client sent none', () => {
    expect(requestId(undefined)).toMatch(UUID);
    expect(requestId(undefined)).not.toBe(requestId(undefined));
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'a b'],
    ['repeated (joined by Node)', 'a, b'],
    ['an array', ['a', 'b']],
    ['with a newline', 'a\nb'],
    ['with quotes and angle brackets', '"><script>'],
    ['with non-ASCII', 'idé'],
  ])('replaces an id that is %s', (_what, value) => {
    expect(requestId(value as string | string[])).toMatch(UUID);
  });
});
