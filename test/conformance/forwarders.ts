import type { LoadBalancerOptions } from '../../src/index.js';

/** One forwarder the forwarding suites run against. */
export interface ForwarderCase {
  readonly name: 'undici' | 'http-proxy-3';
  readonly options: Pick<LoadBalancerOptions, 'forwarder'>;
}

/**
 * Every forwarder the conformance suite runs against. Each conformance test
 * file runs its whole suite once per entry (`describe.each(FORWARDERS)`); a
 * new forwarder needs only its entry here. The other forwarding suites
 * (forwarding, fault, retry, hedge, timeouts, upgrades, and the HTTP/2-client
 * suites in test/http2/) run once per entry
 * through vitest projects (see vitest.config.ts and {@link forwarderOptions}).
 */
export const FORWARDERS: readonly ForwarderCase[] = [
  { name: 'http-proxy-3', options: { forwarder: 'http-proxy-3' } },
  { name: 'undici', options: { forwarder: 'undici' } },
];

/**
 * Options selecting the forwarder this test run is for: vitest's
 * `http-proxy-3` project sets `SWITCHYARD_TEST_FORWARDER`; the default
 * project runs the default forwarder.
 */
export function forwarderOptions(): Pick<LoadBalancerOptions, 'forwarder'> {
  const name = process.env.SWITCHYARD_TEST_FORWARDER;
  return FORWARDERS.find((f) => f.name === name)?.options ?? {};
}
