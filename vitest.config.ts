import { fileURLToPath } from 'node:url';
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
  // HTTP/2 clients on lb.handler: the forwarders differ most there (undici hands bodies to http-proxy-3).
  'test/http2/conformance.test.ts',
  'test/http2/downstream.test.ts',
  'test/http2/mounting.test.ts',
  'test/http2/pipeline.test.ts',
  'test/http2/websocket.test.ts',
  'test/mounting.test.ts',
  'test/response-body.test.ts',
  'test/retry.test.ts',
  'test/robustness.test.ts',
];

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // The examples import the package by its name, as users do; inside the repo
  // the name maps to the sources (tsconfig.json `paths` does the same for tsc and tsx).
  resolve: {
    alias: [
      { find: /^switchyard-lb$/, replacement: src('index.ts') },
      { find: /^switchyard-lb\/testing$/, replacement: src('testing/index.ts') },
    ],
  },
  test: {
    // node:test files run under node's own runner (test/examples.test.ts), not vitest.
    exclude: ['**/node_modules/**', 'examples/**/node-test.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'http-proxy-3', include: FORWARDER_SUITES, env: { SWITCHYARD_TEST_FORWARDER: 'http-proxy-3' } },
      },
    ],
  },
});
