import { BlockList, isIP } from 'node:net';
import { normalizeAddress } from '../forward/trust-proxy.js';

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

/**
 * Compiles a list of IPs and CIDRs into a membership test (`node:net`
 * `BlockList`), or `undefined` for an empty list so the stage can skip it.
 *
 * @example
 * ```ts
 * const internal = compileAddressList(['10.0.0.0/8', '::1']);
 * internal?.('10.1.2.3'); // true
 * ```
 */
export function compileAddressList(entries: readonly string[]): ((address: string) => boolean) | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
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
