import { BlockList, isIP } from 'node:net';

/** Named ranges a list may use besides IPs and CIDRs (Express `trust proxy` names). */
const NAMED_RANGES: Record<string, ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']>> = {
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

/** True for `loopback`, `linklocal` or `uniquelocal`. */
export function isNamedRange(value: string): boolean {
  return Object.hasOwn(NAMED_RANGES, value);
}

/** True when `value` is an IPv4/IPv6 address or a CIDR block such as `10.0.0.0/8` or `2001:db8::/32`. */
export function isIpOrCidr(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  if (extra !== undefined || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** Strips the IPv4-mapped IPv6 prefix so `::ffff:10.0.0.1` matches `10.0.0.0/8`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * Compiles IPs, CIDRs and named ranges (already validated) into a membership
 * test on `node:net`'s `BlockList`. IPv4-mapped IPv6 addresses match their
 * IPv4 entries; anything that is not an IP address matches nothing.
 *
 * @example
 * ```ts
 * import { addressMatcher } from './address-list.js';
 * const internal = addressMatcher(['10.0.0.0/8', '::1', 'loopback']);
 * internal('::ffff:10.1.2.3'); // true
 * ```
 */
export function addressMatcher(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const ranges = NAMED_RANGES[entry];
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
