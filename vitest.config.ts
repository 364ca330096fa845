import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

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
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    // node:test files run under node's own runner (test/examples.test.ts), not vitest.
    exclude: ['**/node_modules/**', 'examples/**/node-test.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    pool: 'forks',
  },
});
