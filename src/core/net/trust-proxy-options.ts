import { z } from 'zod';
import { isIpOrCidr, isNamedRange } from './address-list.js';

/** Which peers may set `X-Forwarded-*`: the `trustProxy` section. */
export const trustProxySchema = z.union(
  [
    z.boolean(),
    z.number().int().min(0).max(64),
    z.array(
      z.string().refine((value) => isNamedRange(value) || isIpOrCidr(value), {
        error: 'an IP address, a CIDR such as "10.0.0.0/8", or loopback/linklocal/uniquelocal',
      }),
    ),
  ],
  { error: 'false, true, a hop count (0-64), or a list of IPs/CIDRs' },
);

/**
 * `trustProxy` as given.
 *
 * @useDeclaredType
 */
export type TrustProxy = z.output<typeof trustProxySchema>;
