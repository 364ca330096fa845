import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { TrustProxy } from '../config/options.js';

/** Decides whether the hop at `index` (0 = the socket peer) may speak for the client. */
export type TrustFn = (address: string, index: number) => boolean;

/** At most this many `X-Forwarded-For` entries are read: a hostile header costs bounded work. */
const MAX_HOPS = 64;

const RANGES: Record<string, ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  linklocal: [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  uniquelocal: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
};

/** Strips the IPv4-mapped IPv6 prefix so `::ffff:10.0.0.1` matches `10.0.0.0/8`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Compiles the `trustProxy` option into a predicate. */
export function compileTrust(option: TrustProxy): TrustFn {
  if (option === true) return () => true;
  if (option === false) return () => false;
  if (typeof option === 'number') return (_address, index) => index < option;
  const list = new BlockList();
  for (const entry of option) {
    const ranges = RANGES[entry];
    if (ranges) {
      for (const [net, prefix, type] of ranges) list.addSubnet(net, prefix, type);
      continue;
    }
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    const normalized = normalizeAddress(address);
    const family = isIP(normalized);
    return family !== 0 && list.check(normalized, family === 6 ? 'ipv6' : 'ipv4');
  };
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
