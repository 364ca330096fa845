import type { LoadBalancerOptions } from '../../src/index.js';

/**
 * Every forwarder the conformance suite runs against. Each test file runs its
 * whole suite once per entry (`describe.each(FORWARDERS)`); a new forwarder
 * needs only its entry here.
 */
export const FORWARDERS: ReadonlyArray<{ name: string; options: Partial<LoadBalancerOptions> }> = [
  { name: 'http-proxy-3', options: {} },
];
