import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { hasBody } from './has-body.js';

function incoming(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe('hasBody', () => {
  it('tells bodies from bodyless requests by their framing', () => {
    expect(hasBody(incoming({}))).toBe(false);
    expect(hasBody(incoming({ 'content-length': '0' }))).toBe(false);
    expect(hasBody(incoming({ 'content-length': '3' }))).toBe(true);
    expect(hasBody(incoming({ 'transfer-encoding': 'chunked' }))).toBe(true);
  });
});
