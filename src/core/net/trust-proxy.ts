import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { addressMatcher, normalizeAddress } from './address-list.js';
import type { TrustProxy } from './trust-proxy-options.js';

export { normalizeAddress };

/** Decides whether the hop at `index` (0 = the socket peer) may speak for the client. */
export type TrustFn = (address: string, index: number) => boolean;

/** At most this many `X-Forwarded-For` entries are read: a hostile header costs bounded work. */
const MAX_HOPS = 64;

/** Compiles the `trustProxy` option into a predicate. */
export function compileTrust(option: TrustProxy): TrustFn {
  if (option === true) return () => true;
  if (option === false) return () => false;
  if (typeof option === 'number') return (_address, index) => index < option;
  return addressMatcher(option);
}

/**
 * The client's address: the socket peer, unless it is trusted, in which case
 * `X-Forwarded-For` is walked from the right while each hop is trusted. An
 * entry that is not an IP address ends the walk.
 */
export function resolveClientAddress(req: IncomingMessage, trust: TrustFn): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  if (!trust(peer, 0)) return peer;
  const raw = req.headers['x-forwarded-for'];
  const header = Array.isArray(raw) ? raw.join(',') : raw;
  if (!header) return peer;
  // Walk from the right without splitting the whole header: a hostile one may be huge.
  let current = peer;
  let end = header.length;
  for (let index = 1; index <= MAX_HOPS && end > 0; index++) {
    const comma = header.lastIndexOf(',', end - 1);
    const hop = normalizeAddress(header.slice(comma + 1, end).trim());
    if (isIP(hop) === 0) return current;
    current = hop;
    if (!trust(current, index)) return current;
    end = comma;
  }
  return current;
}
