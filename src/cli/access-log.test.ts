import { describe, expect, it } from 'vitest';
import { type AccessEntry, formatAccess, redactQuery, SENSITIVE_QUERY } from './access-log.js';

const entry: AccessEntry = {
  method: 'GET',
  path: '/users',
  target: '/api/users?token=s3cret&page=2',
  requestId: 'id-1',
  backend: 'a',
  status: 200,
  durationMs: 12.3456,
  attempts: 1,
  pool: 'api',
  route: 'api-path',
  host: 'example.com',
  clientAddress: '10.1.2.3',
  userAgent: 'curl/8 "quoted"\nforged',
  referer: undefined,
  httpVersion: '1.1',
  bytesIn: 120,
  bytesOut: 345,
};
const at = new Date(Date.UTC(2026, 11, 1, 8, 30, 5));

describe('access log', () => {
  it('redacts the named query values, all of them, or none', () => {
    expect(redactQuery('/a?token=x&Page=2&API_KEY=k', SENSITIVE_QUERY)).toBe('/a?token=***&Page=2&API_KEY=***');
    expect(redactQuery('/a?x=1&y=2', true)).toBe('/a?x=***&y=***');
    expect(redactQuery('/a?token=x', false)).toBe('/a?token=x');
    expect(redactQuery('/a', true)).toBe('/a');
  });

  it('writes a JSON line with client, target, status, bytes, duration, backend, route, user agent and id', () => {
    const line = JSON.parse(formatAccess(entry, 'json', SENSITIVE_QUERY, at)) as Record<string, unknown>;
    expect(line).toEqual({
      time: '2026-12-01T08:30:05.000Z',
      client: '10.1.2.3',
      method: 'GET',
      target: '/api/users?token=***&page=2',
      status: 200,
      bytesIn: 120,
      bytesOut: 345,
      durationMs: 12.346,
      backend: 'a',
      pool: 'api',
      route: 'api-path',
      host: 'example.com',
      userAgent: 'curl/8 "quoted"\nforged',
      requestId: 'id-1',
    });
  });

  it('writes the combined format with escaped fields on one line', () => {
    const line = formatAccess(entry, 'combined', SENSITIVE_QUERY, at);
    expect(line).toBe(
      '10.1.2.3 - - [01/Dec/2026:08:30:05 +0000] "GET /api/users?token=***&page=2 HTTP/1.1" 200 345 "-" ' +
        '"curl/8 \\"quoted\\"\\x0aforged" rt=0.012 backend="a" pool="api" route="api-path" id="id-1"\n',
    );
    expect(line.split('\n')).toHaveLength(2);
  });
});
