import { isIP } from 'node:net';

/**
 * RFC 3986 §3.2.2 reg-name: unreserved, percent-encoded and sub-delims
 * characters. No whitespace, `/`, `@`, `?`, `#`, `\`, `:` (the port is apart)
 * or control character can pass.
 */
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Validates a `Host` value or the authority of an absolute-form target
 * (RFC 9112 §3.2, RFC 9110 §7.2: `uri-host [ ":" port ]`, RFC 3986 §3.2
 * without userinfo) and returns it lower-cased, the one form every rule,
 * key, log line and the backend then use. Returns undefined for anything
 * else: whitespace, `/`, `@` (userinfo), an empty or out-of-range port, an
 * unbracketed or malformed IPv6 literal.
 *
 * @param value - The raw authority, e.g. `Example.com:8080` or `[::1]:80`.
 * @returns The lower-cased authority, or undefined when it is invalid.
 *
 * @example
 * ```ts
 * import { parseAuthority } from './request-target.js';
 * parseAuthority('Example.com:8080'); // 'example.com:8080'
 * parseAuthority('user@evil');        // undefined
 * ```
 */
export function parseAuthority(value: string): string | undefined {
  // The last answer is kept: a client's requests mostly name one host.
  if (value === lastAuthority) return lastParsed;
  const parsed = validAuthority(value);
  lastAuthority = value;
  lastParsed = parsed;
  return parsed;
}
let lastAuthority = '';
let lastParsed: string | undefined;

function validAuthority(value: string): string | undefined {
  if (value.length === 0 || value.length > 255) return undefined;
  let host: string;
  let port: string | undefined;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1) return undefined;
    host = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      port = rest.slice(1);
    }
    if (isIP(host.slice(1, -1)) !== 6) return undefined;
  } else {
    const colon = value.lastIndexOf(':');
    host = colon === -1 ? value : value.slice(0, colon);
    if (colon !== -1) port = value.slice(colon + 1);
    if (host.length === 0 || !REG_NAME.test(host)) return undefined;
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) return undefined;
  return value.toLowerCase();
}

/**
 * Splits an absolute-form request target (`http://host/path?q`, RFC 9112
 * §3.2.2) into its validated authority and its origin form, by hand: never
 * through a WHATWG URL parser, which would silently repair what it reads
 * (`\` as `/`, tabs dropped, userinfo accepted).
 *
 * @param target - The request target as the client sent it.
 * @returns The authority and the origin-form target, or undefined when the
 *   target is not an absolute http(s) URL with a valid authority.
 *
 * @example
 * ```ts
 * import { splitAbsoluteForm } from './request-target.js';
 * splitAbsoluteForm('http://Evil.example/page?x=1'); // { authority: 'evil.example', path: '/page?x=1' }
 * ```
 */
export function splitAbsoluteForm(target: string): { authority: string; path: string } | undefined {
  const scheme = /^https?:\/\//i.exec(target);
  if (!scheme) return undefined;
  const rest = target.slice(scheme[0].length);
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    // '/', '?', '#'
    if (c === 0x2f || c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  const authority = parseAuthority(rest.slice(0, end));
  if (authority === undefined) return undefined;
  let path = rest.slice(end);
  const hash = path.indexOf('#');
  if (hash !== -1) path = path.slice(0, hash);
  if (path === '' || path.startsWith('?')) path = `/${path}`;
  return { authority, path };
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The path every path rule matches (cache exclusions, rate-limit route keys,
 * routes): the request target's path, without its query, normalised as
 * Envoy's `normalize_path` + `merge_slashes` and NGINX's `merge_slashes` do.
 * The backend still gets the raw target.
 *
 * Exactly what it does, in order:
 * 1. drops the query (`?` and after);
 * 2. decodes percent-encoded unreserved characters (`%2e` → `.`, `%41` → `A`)
 *    and upper-cases the hex of every other escape (`%3f` → `%3F`);
 * 3. treats `\`, `%5C`, `%2F` (either case) as `/`: backends that read them
 *    as separators (Windows, many frameworks, WHATWG URL) must not see a
 *    path a rule did not (Envoy's `UNESCAPE_AND_MERGE`);
 * 4. merges runs of `/`;
 * 5. removes `.` and `..` segments (RFC 3986 §5.2.4), never above the root.
 *
 * @param target - An origin-form request target, e.g. `//a/./b/../c?x`.
 * @returns The normalised path, always starting with `/`, e.g. `/a/c`.
 *
 * @example
 * ```ts
 * import { normalizePath } from './request-target.js';
 * normalizePath('/%2e%2e//private\\data?x=1'); // '/private/data'
 * ```
 */
export function normalizePath(target: string): string {
  const query = target.indexOf('?');
  const raw = query === -1 ? target : target.slice(0, query);
  let decoded = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '%' && i + 2 < raw.length && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      const hex = raw.slice(i + 1, i + 3).toUpperCase();
      const ch = String.fromCharCode(Number.parseInt(hex, 16));
      if (hex === '2F' || hex === '5C') decoded += '/';
      else if (UNRESERVED.test(ch)) decoded += ch;
      else decoded += `%${hex}`;
      i += 2;
    } else decoded += c === '\\' ? '/' : c;
  }
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment !== '' || (last && out.length > 0)) out.push(segment);
  }
  return `/${out.join('/')}`;
}

/**
 * The origin-form target and the one effective authority of a request
 * (RFC 9112 §3.2): the absolute-form target's authority when it has one
 * (it replaces `Host`), otherwise the `Host` value. Both are validated:
 * an invalid `Host` is refused even beside an absolute-form target.
 *
 * @param target - `req.url` as received.
 * @param host - The `Host` header, undefined when absent (HTTP/1.0).
 * @returns `{ path, authority }` (authority empty without any), or a
 *   sentence saying what is wrong, for a 400.
 *
 * @example
 * ```ts
 * import { resolveTarget } from './request-target.js';
 * resolveTarget('http://evil.example/page', 'victim.example'); // { path: '/page', authority: 'evil.example' }
 * resolveTarget('/x', 'a b');                                   // 'invalid Host header'
 * ```
 */
export function resolveTarget(target: string, host: string | undefined): { path: string; authority: string } | string {
  let authority = '';
  if (host !== undefined) {
    const parsed = parseAuthority(host);
    if (parsed === undefined) return 'invalid Host header';
    authority = parsed;
  }
  if (target.startsWith('/')) return { path: target, authority };
  const absolute = splitAbsoluteForm(target);
  if (absolute === undefined)
    return 'the request target must be a path or an absolute http(s) URL with a valid authority';
  return absolute;
}
