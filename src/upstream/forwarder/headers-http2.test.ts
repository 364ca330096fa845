import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../core/errors.js';
import { type ForwardingInfo, upstreamRequestHeaders } from './headers.js';

/** A stand-in for an Http2ServerRequest: what upstreamRequestHeaders reads. */
function h2message(rawHeaders: string[], endAfterHeaders = true): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    headers[name] =
      name === 'cookie' && headers[name] ? `${headers[name]}; ${rawHeaders[i + 1]}` : (rawHeaders[i + 1] as string);
  }
  return {
    rawHeaders,
    headers,
    httpVersion: '2.0',
    httpVersionMajor: 2,
    stream: { destroyed: false, endAfterHeaders },
  } as unknown as IncomingMessage;
}

const info: ForwardingInfo = {
  authority: '',
  peer: '203.0.113.7',
  trusted: false,
  proto: 'https',
  via: 'switchyard',
  upgrade: false,
};
const BASE = [':method', 'POST', ':path', '/x', ':scheme', 'https', ':authority', 'app.example'];

describe('upstreamRequestHeaders for an HTTP/2 request', () => {
  it('drops pseudo-headers, sets Host from :authority, joins split cookies and frames a body as chunked', () => {
    const h = upstreamRequestHeaders(h2message([...BASE, 'cookie', 'a=1', 'cookie', 'b=2'], false), info) as Record<
      string,
      string
    >;
    expect(Object.keys(h).some((name) => name.startsWith(':'))).toBe(false);
    expect(h.host).toBe('app.example');
    expect(h.cookie).toBe('a=1; b=2');
    expect(h['transfer-encoding']).toBe('chunked');
    expect(h.via).toBe('2 switchyard');
    expect(h['x-forwarded-proto']).toBe('https');
  });

  it('keeps a client content-length and adds no framing to a bodiless request', () => {
    const sized = upstreamRequestHeaders(h2message([...BASE, 'content-length', '3'], false), info) as Record<
      string,
      string
    >;
    expect(sized['content-length']).toBe('3');
    expect(sized['transfer-encoding']).toBeUndefined();
    const empty = upstreamRequestHeaders(h2message(BASE, true), info) as Record<string, string>;
    expect(empty['transfer-encoding']).toBeUndefined();
  });

  it.each([
    ['connection', 'close'],
    ['keep-alive', '5'],
    ['proxy-connection', 'keep-alive'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'h2c'],
    ['te', 'gzip'],
    ['host', 'other.example'],
  ])('refuses %s: %s with 400, whatever the HTTP/2 layer let through', (name, value) => {
    const result = upstreamRequestHeaders(h2message([...BASE, name, value]), info);
    expect(result).toBeInstanceOf(SwitchyardError);
    expect((result as SwitchyardError).status).toBe(400);
  });

  it('accepts TE: trailers and a Host equal to :authority, and forwards neither TE nor a second Host', () => {
    const h = upstreamRequestHeaders(h2message([...BASE, 'te', 'trailers', 'host', 'APP.example']), info) as Record<
      string,
      string
    >;
    expect(h.te).toBeUndefined();
    expect(h.host).toBe('app.example');
  });
});
