import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { makeError, type SwitchyardError } from '../../core/errors.js';
import { HTTP2_CONNECTION_HEADERS, http2HasBody, isHttp2, requestAuthority } from '../../core/net/http2-compat.js';

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy-only ones: never
 * forwarded in either direction. `transfer-encoding` is handled apart: Node
 * re-frames the body, so the request keeps it as a framing instruction and the
 * response drops it.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  // The h2c upgrade's settings (RFC 7540 §3.2.1): connection-specific, and refused by HTTP/2.
  'http2-settings',
]);

/** Fields a `Connection` option may not remove: the body's framing and the target host. */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * Fields Node keeps only the first of when repeated. A request repeating one
 * would reach the backend changed, so it is refused instead.
 */
const SINGLETON_REQUEST = new Set([
  'authorization',
  'content-length',
  'content-type',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'max-forwards',
  'referer',
  'user-agent',
]);

const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** What the forwarder knows about the client side of a request. */
export interface ForwardingInfo {
  /**
   * The request's validated, effective authority (absolute-form target or
   * `Host`; see `resolveTarget`): sent as `Host` and used for
   * `X-Forwarded-Host` and `Forwarded: host=`. Empty: keep what the client sent.
   */
  readonly authority: string;
  /** The socket peer. */
  readonly peer: string;
  /** True when the peer may set forwarding headers (`trustProxy`). */
  readonly trusted: boolean;
  /** `https` when the client connection is TLS. */
  readonly proto: 'http' | 'https';
  /** Pseudonym for `Via`, or false. */
  readonly via: string | false;
  /** This is an Upgrade (WebSocket) request: keep `Upgrade` and `Connection: upgrade`. */
  readonly upgrade: boolean;
}

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i] as string;
    // Only a 10-character name can be `connection`: the others are not lowercased for nothing.
    if (field.length !== 10 || field.toLowerCase() !== 'connection') continue;
    const value = raw[i + 1] as string;
    // The usual value names only `keep-alive`, a hop-by-hop field dropped anyway: no set to build.
    if (value === 'keep-alive') continue;
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (!name) continue;
      tokens ??= new Set();
      tokens.add(name);
    }
  }
  return tokens;
}

function add(headers: Record<string, string | string[]>, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = value;
  else if (typeof existing === 'string') headers[name] = [existing, value];
  else existing.push(value);
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Transfer codings a request may carry (the IANA registry's, minus trailers-only ones), chunked last. */
const TRANSFER_CODINGS = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A `Forwarded` parameter value (RFC 7239 §4): a token as it is, anything
 * else (a port's `:`, an IPv6 literal's brackets) as a quoted-string.
 */
function forwardedValue(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** A node for `Forwarded` (RFC 7239 §6: IPv6 in brackets, then quoted). */
function forwardedNode(address: string): string {
  return forwardedValue(isIP(address) === 6 ? `[${address}]` : address);
}

/**
 * This hop's `Forwarded` element. The last one is kept: a keep-alive
 * connection's requests share a peer and mostly name the same host, and a
 * string built once is already flat when undici checks and writes it.
 */
function forwardedElement(peer: string, proto: 'http' | 'https', host: string): string {
  if (peer !== lastElementPeer || proto !== lastElementProto || host !== lastElementHost) {
    lastElement = `for=${forwardedNode(peer)};proto=${proto}${host ? `;host=${forwardedValue(host)}` : ''}`;
    lastElementPeer = peer;
    lastElementProto = proto;
    lastElementHost = host;
  }
  return lastElement;
}
let lastElementPeer = '';
let lastElementProto = '';
let lastElementHost = '';
let lastElement = '';

/**
 * This hop's `Via` entry (RFC 9110 §7.6.3), `<version> <pseudonym>`. The last
 * one is kept: a version and pseudonym rarely change between requests, and a
 * string built once is already flat when it is checked and written.
 */
function viaEntry(version: string, pseudonym: string): string {
  if (version !== lastViaVersion || pseudonym !== lastViaPseudonym) {
    lastVia = `${version} ${pseudonym}`;
    lastViaVersion = version;
    lastViaPseudonym = pseudonym;
  }
  return lastVia;
}
let lastViaVersion = '';
let lastViaPseudonym = '';
let lastVia = '';

/**
 * Why an HTTP/2 request cannot be forwarded (RFC 9113 §8.2.2, §8.3.1), or
 * undefined. nghttp2 already resets most such streams; this is the check that
 * holds whatever the HTTP/2 implementation in front lets through.
 */
function http2Refusal(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HTTP2_CONNECTION_HEADERS.has(name)) return `connection-specific header ${name} in an HTTP/2 request`;
    if (name === 'te' && (raw[i + 1] as string).trim().toLowerCase() !== 'trailers')
      return 'TE other than trailers in an HTTP/2 request';
  }
  if (requestAuthority(req) === false) return 'Host differs from :authority';
  return undefined;
}

/**
 * Builds the headers sent upstream from the client's raw headers: hop-by-hop
 * fields and those named by `Connection` removed, repeated fields kept as
 * repeated lines, `X-Forwarded-*`/`Forwarded` replaced (or extended when the
 * peer is trusted), `Via` extended. Returns a 400 error for a request that
 * cannot be forwarded faithfully.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  info: ForwardingInfo,
): Record<string, string | string[]> | SwitchyardError {
  const raw = req.rawHeaders;
  const h2 = isHttp2(req);
  if (h2) {
    const refused = http2Refusal(req);
    if (refused !== undefined) return makeError('ERR_BAD_REQUEST', refused);
  }
  const tokens = h2 ? undefined : connectionTokens(raw);
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    // HTTP/2 pseudo-headers become the request line and Host, set below.
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (HOP_BY_HOP.has(name) || name === 'expect') continue;
    if (tokens?.has(name) && !PROTECTED.has(name)) continue;
    if (!info.trusted && FORWARDING.has(name)) continue;
    if (name in headers) {
      if (SINGLETON_REQUEST.has(name)) {
        return makeError('ERR_BAD_REQUEST', `repeated ${name} header`);
      }
    }
    add(headers, name, value);
  }
  const coding = headers['transfer-encoding'];
  if (coding !== undefined) {
    // One clean list the backend cannot read differently from Node: each
    // coding a token, chunked once and last (RFC 9112 §6.1), written out again.
    const list = (Array.isArray(coding) ? coding.join(',') : coding).split(',').map((c) => c.trim().toLowerCase());
    if (list.some((c) => !TOKEN.test(c)) || list.indexOf('chunked') !== list.length - 1)
      return makeError('ERR_BAD_REQUEST', 'invalid Transfer-Encoding');
    // RFC 9112 §6.1: a coding nobody here understands is refused with 501, not passed on to be guessed at.
    if (list.some((c) => !TRANSFER_CODINGS.has(c)))
      return makeError('ERR_NOT_IMPLEMENTED', 'unsupported transfer coding');
    headers['transfer-encoding'] = list.join(', ');
  }
  if (h2) {
    const authority = req.headers[':authority'];
    if (typeof authority === 'string') headers.host = authority;
    // RFC 9113 §8.2.3: HTTP/2 may split Cookie into several fields; HTTP/1.1 gets one.
    const cookie = headers.cookie;
    if (Array.isArray(cookie)) headers.cookie = cookie.join('; ');
    // HTTP/2 frames the body itself (RFC 9113 §8.1): an HTTP/1.1 upstream needs
    // chunked framing for a body of unannounced length (and its trailers).
    if (headers['content-length'] === undefined && http2HasBody(req)) headers['transfer-encoding'] = 'chunked';
  }
  if (info.upgrade) {
    const upgrade = req.headers.upgrade;
    if (upgrade) {
      headers.connection = 'upgrade';
      headers.upgrade = upgrade;
    }
  } else {
    headers.connection = 'keep-alive';
  }

  const peer = info.peer;
  const priorFor = info.trusted ? joined(headers['x-forwarded-for']) : undefined;
  headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${peer}` : peer;
  if (info.authority !== '') headers.host = info.authority;
  const host = joined(headers.host) ?? '';
  if (!info.trusted || headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = info.proto;
  if (!info.trusted || headers['x-forwarded-host'] === undefined) {
    if (host) headers['x-forwarded-host'] = host;
  }
  const element = forwardedElement(peer, info.proto, host);
  const priorForwarded = info.trusted ? joined(headers.forwarded) : undefined;
  headers.forwarded = priorForwarded ? `${priorForwarded}, ${element}` : element;
  if (info.via) {
    const via = viaEntry(h2 ? '2' : req.httpVersion, info.via);
    const prior = joined(headers.via);
    headers.via = prior ? `${prior}, ${via}` : via;
  }
  return headers;
}

/**
 * Builds the headers sent to the client from the backend's raw headers:
 * hop-by-hop fields, those named by `Connection` and `Transfer-Encoding`
 * removed (Node frames the body again), `Content-Length` of a 204 or 304
 * removed, repeated fields such as `Set-Cookie`
 * kept apart, `Via` extended.
 */
export function clientResponseHeaders(res: IncomingMessage, via: string | false): OutgoingHttpHeaders {
  const raw = res.rawHeaders;
  const tokens = connectionTokens(raw);
  const headers: Record<string, string | string[]> = {};
  // RFC 9110 §8.6, §15.3.5, §15.4.5: a 204 or 304 has no body, so no framing to announce.
  const bodiless = res.statusCode === 204 || res.statusCode === 304;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    // `Trailer` announces trailer fields, which are forwarded: it stays.
    if ((HOP_BY_HOP.has(name) && name !== 'trailer') || name === 'transfer-encoding') continue;
    if (bodiless && name === 'content-length') continue;
    if (tokens?.has(name) && !PROTECTED.has(name)) continue;
    add(headers, name, raw[i + 1] as string);
  }
  if (via) {
    const value = viaEntry(res.httpVersion, via);
    const prior = joined(headers.via);
    headers.via = prior ? `${prior}, ${value}` : value;
  }
  return headers;
}

/** What a plain `Connection: close` names (never added to: the slow path builds its own set). */
const CLOSE_ONLY: ReadonlySet<string> = new Set(['close']);

/**
 * The fields a `Connection` value names, for the common one-token values
 * without splitting: `keep-alive` names only a field dropped anyway, `close`
 * only `close`. Undefined when the value is anything else (the slow path).
 */
function plainConnection(value: string | string[]): { named: ReadonlySet<string> | undefined } | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value === 'keep-alive' || value === 'close' ? value : value.trim().toLowerCase();
  if (lower === 'keep-alive') return PLAIN_KEEP_ALIVE;
  if (lower === 'close') return PLAIN_CLOSE;
  return undefined;
}
const PLAIN_KEEP_ALIVE = { named: undefined };
const PLAIN_CLOSE = { named: CLOSE_ONLY };

/** Response fields never copied to the client: hop-by-hop ones but `Trailer`, and the framing Node redoes. */
const DROPPED_RESPONSE = new Set([...HOP_BY_HOP, 'transfer-encoding']);
DROPPED_RESPONSE.delete('trailer');

/**
 * The same rules as {@link clientResponseHeaders}, for a header object that
 * is already lowercased with repeated fields as arrays (what undici hands a
 * dispatch handler). Copies into a new object rather than deleting fields,
 * which would drop the object to V8's slow dictionary mode before Node
 * serialises it. `httpVersion` is the version the backend answered with, for
 * `Via`.
 */
export function stripResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  via: string | false,
  httpVersion: string,
): OutgoingHttpHeaders {
  const connection = headers.connection;
  let named: ReadonlySet<string> | undefined;
  const plain = connection === undefined ? undefined : plainConnection(connection);
  if (plain !== undefined) named = plain.named;
  else if (connection !== undefined) {
    const tokens = new Set<string>();
    for (const line of typeof connection === 'string' ? [connection] : connection) {
      for (const token of line.split(',')) {
        const name = token.trim().toLowerCase();
        if (!name || PROTECTED.has(name)) continue;
        tokens.add(name);
      }
    }
    if (tokens.size > 0) named = tokens;
  }
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || DROPPED_RESPONSE.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  if (via) {
    const value = viaEntry(httpVersion, via);
    const prior = joined(out.via);
    out.via = prior ? `${prior}, ${value}` : value;
  }
  return out;
}
