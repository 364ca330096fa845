import { addressMatcher, isIpOrCidr } from '../../core/net/address-list.js';

export { isIpOrCidr };

/**
 * Compiles a list of IPs and CIDRs into a membership test (`node:net`
 * `BlockList`), or `undefined` for an empty list so the stage can skip it.
 *
 * @example
 * ```ts
 * import { compileAddressList } from './ip-list.js';
 * const internal = compileAddressList(['10.0.0.0/8', '::1']);
 * internal?.('10.1.2.3'); // true
 * ```
 */
export function compileAddressList(entries: readonly string[]): ((address: string) => boolean) | undefined {
  return entries.length === 0 ? undefined : addressMatcher(entries);
}
