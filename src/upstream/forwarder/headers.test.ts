import type { IncomingMessage } from 'node:http';
import parseForwarded from 'forwarded-parse';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../core/errors.js';
import { clientResponseHeaders, type ForwardingInfo, stripResponseHeaders, upstreamRequestHeaders } from './headers.js';

function message(rawHeaders: string[], httpVersion = '1.1'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    headers[name] = headers[name] ? `${headers[name]}, ${rawHeaders[i + 1]}` : (rawHeaders[i + 1] as string);
  }
  return { rawHeaders, headers, httpVersion } as unknown as IncomingMessage;
}

const untrusted: ForwardingInfo = {
  authority: '',
  peer: '203.0.113.7',
  trusted: false,
  proto: 'http',
  via: 'switchyard',
  upgrade: false,
};
const trusted: ForwardingInfo = { ...untrusted, peer: '10.0.0.2', trusted: true };

describe('upstreamRequestHeaders', () => {
  it('removes hop-by-hop headers and those named by Connection', () => {
    const headers = upstreamRequestHeaders(
      message([
        'Host',
        'example.com',
        'Connection',
        'close, X-Secret',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'TE',
        'trailers',
        'Trailer',
        'X-Checksum',
        'Upgrade',
        'h2c',
        'Proxy-Authorization',
        'Basic Zm9vOmJhcg==',
        'X-Secret',
        'hop',
        'Expect',
        '100-continue',
        'Accept',
        'text/html',
      ]),
      untrusted,
    );
    expect(headers).not.toBeInstanceOf(SwitchyardError);
    const h = headers as Record<string, string>;
    for (const name of [
      'keep-alive',
      'proxy-connection',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      'x-secret',
      'expect',
    ]) {
      expect(h[name], name).toBeUndefined();
    }
    expect(h.connection).toBe('keep-alive');
    expect(h.accept).toBe('text/html');
    expect(h.host).toBe('example.com');
  });

  it('never lets Connection remove the framing headers or Host', () => {
    const h = upstreamRequestHeaders(
      message(['Host', 'a', 'Content-Length', '5', 'Connection', 'content-length, host, transfer-encoding']),
      untrusted,
    ) as Record<string, string>;
    expect(h['content-length']).toBe('5');
    expect(h.host).toBe('a');
  });

  it('keeps Transfer-Encoding so the body is framed as the client framed it', () => {
    const h = upstreamRequestHeaders(message(['Host', 'a', 'Transfer-Encoding', 'chunked']), untrusted) as Record<
      string,
      string
    >;
    expect(h['transfer-encoding']).toBe('chunked');
  });

  it('replaces client-supplied forwarding headers when the peer is not trusted', () => {
    const h = upstreamRequestHeaders(
      message([
        'Host',
        'shop.example',
        'X-Forwarded-For',
        '1.2.3.4',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'evil.example',
        'Forwarded',
        'for=1.2.3.4',
      ]),
      untrusted,
    ) as Record<string, string>;
    expect(h['x-forwarded-for']).toBe('203.0.113.7');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('shop.example');
    expect(h.forwarded).toBe('for=203.0.113.7;proto=http;host=shop.example');
  });

  it('extends forwarding headers when the peer is trusted', () => {
    const h = upstreamRequestHeaders(
      message([
        'Host',
        'shop.example',
        'X-Forwarded-For',
        '1.2.3.4',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'www.shop.example',
        'Forwarded',
        'for=1.2.3.4;proto=https',
      ]),
      trusted,
    ) as Record<string, string>;
    expect(h['x-forwarded-for']).toBe('1.2.3.4, 10.0.0.2');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe('www.shop.example');
    expect(h.forwarded).toBe('for=1.2.3.4;proto=https, for=10.0.0.2;proto=http;host=shop.example');
  });

  it('quotes IPv6 nodes in Forwarded and appends to Via', () => {
    const h = upstreamRequestHeaders(message(['Host', 'a', 'Via', '1.0 edge']), {
      ...untrusted,
      peer: '::1',
    }) as Record<string, string>;
    expect(h.forwarded).toBe('for="[::1]";proto=http;host=a');
    expect(h.via).toBe('1.0 edge, 1.1 switchyard');
  });

  it('keeps repeated list headers as repeated lines', () => {
    const h = upstreamRequestHeaders(
      message(['Host', 'a', 'X-Tag', 'one', 'X-Tag', 'two', 'Cookie', 'a=1', 'Cookie', 'b=2']),
      untrusted,
    );
    expect((h as Record<string, unknown>)['x-tag']).toEqual(['one', 'two']);
    expect((h as Record<string, unknown>).cookie).toEqual(['a=1', 'b=2']);
  });

  it('refuses a repeated header that HTTP allows once, since the backend would see it changed', () => {
    for (const name of ['Host', 'Authorization', 'Content-Type', 'User-Agent']) {
      const result = upstreamRequestHeaders(message([name, 'one', name, 'two']), untrusted);
      expect(result, name).toBeInstanceOf(SwitchyardError);
      expect((result as SwitchyardError).status).toBe(400);
    }
  });

  it('keeps Upgrade and Connection: upgrade for an upgrade request', () => {
    const h = upstreamRequestHeaders(
      message(['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k']),
      { ...untrusted, upgrade: true },
    ) as Record<string, string>;
    expect(h.connection).toBe('upgrade');
    expect(h.upgrade).toBe('websocket');
    expect(h['sec-websocket-key']).toBe('k');
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop headers and Transfer-Encoding, keeps Set-Cookie lines apart', () => {
    const h = clientResponseHeaders(
      message([
        'Content-Type',
        'text/plain',
        'Transfer-Encoding',
        'chunked',
        'Connection',
        'keep-alive, X-Internal',
        'Keep-Alive',
        'timeout=5',
        'X-Internal',
        'secret',
        'Proxy-Authenticate',
        'Basic',
        'Set-Cookie',
        'a=1; Path=/',
        'Set-Cookie',
        'b=2; Path=/',
      ]),
      'switchyard',
    );
    expect(h).toEqual({
      'content-type': 'text/plain',
      'set-cookie': ['a=1; Path=/', 'b=2; Path=/'],
      via: '1.1 switchyard',
    });
  });

  it('adds no Via when via is false', () => {
    expect(clientResponseHeaders(message(['Content-Length', '0']), false)).toEqual({ 'content-length': '0' });
  });
});

describe('stripResponseHeaders', () => {
  it('drops hop-by-hop fields, those Connection names and Transfer-Encoding, keeps Trailer, extends Via', () => {
    const h = stripResponseHeaders(
      {
        'content-type': 'text/plain',
        connection: 'keep-alive, x-secret, content-length',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'x-secret': '1',
        'content-length': '5',
        trailer: 'x-sum',
        'set-cookie': ['a=1', 'b=2'],
        via: '1.1 upstream',
      },
      'switchyard',
      '1.1',
    );
    expect(h).toEqual({
      'content-type': 'text/plain',
      'content-length': '5',
      trailer: 'x-sum',
      'set-cookie': ['a=1', 'b=2'],
      via: '1.1 upstream, 1.1 switchyard',
    });
  });
});

describe('Forwarded', () => {
  it('quotes values that are not tokens, so a real parser reads them back', () => {
    for (const [peer, host] of [
      ['127.0.0.1', '127.0.0.1:37849'],
      ['::1', '[::1]:8080'],
      ['2001:db8::7', 'shop.example'],
    ] as const) {
      const h = upstreamRequestHeaders(message(['Host', host]), { ...untrusted, peer, authority: host });
      if (h instanceof SwitchyardError) throw h;
      const parsed = parseForwarded(h.forwarded as string);
      expect(parsed).toEqual([{ for: peer.includes(':') ? `[${peer}]` : peer, proto: 'http', host }]);
    }
  });

  it('sends the effective authority as Host, X-Forwarded-Host and Forwarded host', () => {
    const h = upstreamRequestHeaders(message(['Host', 'victim.example']), { ...untrusted, authority: 'evil.example' });
    if (h instanceof SwitchyardError) throw h;
    expect(h.host).toBe('evil.example');
    expect(h['x-forwarded-host']).toBe('evil.example');
    expect(h.forwarded).toBe('for=203.0.113.7;proto=http;host=evil.example');
  });
});
