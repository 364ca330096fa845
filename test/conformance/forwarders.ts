import type { LoadBalancerOptions } from '../../src/index.js';

/** One forwarder the forwarding suites run against. */
export interface ForwarderCase {
  readonly name: 'undici' | 'http-proxy-3';
  readonly options: Pick<LoadBalancerOptions, 'forwarder'>;
}

/** Every forwarder: the conformance, forwarding, fault, retry, hedge, timeout and upgrade suites run against each. */
export const FORWARDERS: readonly ForwarderCase[] = [
  { name: 'undici', options: { forwarder: 'undici' } },
  { name: 'http-proxy-3', options: { forwarder: 'http-proxy-3' } },
];

/**
 * Options selecting the forwarder this test run is for: vitest's
 * `http-proxy-3` project sets `SWITCHYARD_TEST_FORWARDER` (see
 * vitest.config.ts); the default project runs the default forwarder.
 */
export function forwarderOptions(): Pick<LoadBalancerOptions, 'forwarder'> {
  const name = process.env.SWITCHYARD_TEST_FORWARDER;
  return FORWARDERS.find((f) => f.name === name)?.options ?? {};
}
