import { defineConfig } from 'vitest/config';

/**
 * Suites that exercise the forwarder: the default project runs them on the
 * default forwarder (undici), the `http-proxy-3` project again on the other
 * one, through `SWITCHYARD_TEST_FORWARDER` (test/conformance/forwarders.ts).
 */
const FORWARDER_SUITES = [
  'test/balancer.test.ts',
  'test/fault.test.ts',
  'test/forwarding.test.ts',
  'test/hedge.test.ts',
  'test/mounting.test.ts',
  'test/retry.test.ts',
  'test/robustness.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'default', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'http-proxy-3', include: FORWARDER_SUITES, env: { SWITCHYARD_TEST_FORWARDER: 'http-proxy-3' } },
      },
    ],
  },
});
