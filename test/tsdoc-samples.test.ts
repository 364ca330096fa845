import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSamples, extractSamples, root, sourceFiles } from './samples.ts';

// Every ```ts / ```typescript block inside an `@example` section of a TSDoc comment in src/ type-checks under the
// project's strict settings (see checkSamples: each is checked next to its module, all in one program).

// Names the fragments use without declaring: declared here with the real types ('@/x' is src/x), unless the
// sample declares or imports them.
const PRELUDE: Record<string, string> = {
  http: "import http from 'node:http';",
  https: "import https from 'node:https';",
  http2: "import http2 from 'node:http2';",
  writeFileSync: "import { writeFileSync } from 'node:fs';",
  pipeline: "import { pipeline } from 'node:stream';",
  TLSSocket: "import type { TLSSocket } from 'node:tls';",
  z: "import { z } from 'zod';",
  pino: "import pino from 'pino';",
  expect: "import { expect } from 'vitest';",
  lb: "declare const lb: import('@/index.ts').LoadBalancer;",
  backends: "declare const backends: import('@/index.ts').BackendOptions[];",
  v2: "declare const v2: import('@/index.ts').BackendOptions[];",
  router: "declare const router: import('@/index.ts').Router;",
  config: "declare const config: import('@/index.ts').ResolvedOptions;",
  server: "declare const server: import('node:http').Server;",
  req: "declare const req: import('node:http').IncomingMessage;",
  res: "declare const res: import('node:http').ServerResponse;",
  socket: "declare const socket: import('node:net').Socket;",
  headers: 'declare const headers: Record<string, string | string[]>;',
  app: "declare const app: import('express').Express;",
  koaApp: "declare const koaApp: import('koa');",
  ctx: "declare const ctx: import('@/core/context.ts').Context;",
  backend: "declare const backend: import('@/core/backend.ts').Backend;",
  pool: "declare const pool: import('@/upstream/pool/pool.ts').Pool;",
  events: "declare const events: import('@/core/events.ts').Events;",
  redis: "declare const redis: import('@/core/redis.ts').SharedRedis;",
  shared: "declare const shared: import('@/core/redis.ts').SharedRedis;",
  client: "declare const client: import('@/core/redis.ts').RedisClient;",
  error: 'declare const error: unknown;',
  now: 'declare const now: () => number;',
  random: 'declare const random: () => number;',
  log: 'declare const log: (...values: unknown[]) => void;',
  token: 'declare const token: string;',
  text: 'declare const text: string;',
};

const samples = sourceFiles(`${root}src`).flatMap((file) => extractSamples(file, readFileSync(file, 'utf8')));

// A module that exists only here: one example block is broken on purpose (line 13), the other is fine; the blocks
// outside `@example` and the json one are not samples.
const fixtureFile = `${root}src/stages/retry/doc-fixture.ts`;
const fixture = [
  '/**',
  ' * Not an example:',
  ' * ```ts',
  " * const skipped: number = 'not checked';",
  ' * ```',
  ' *',
  ' * @example',
  ' * ```json',
  ' * { "skipped": true }',
  ' * ```',
  ' * ```ts',
  " * import { RETRY_ON } from './options.js';",
  ' * const reasons: number = RETRY_ON;',
  ' * ```',
  ' * ```typescript',
  " * import { createLoadBalancer } from 'switchyard-lb';",
  ' * createLoadBalancer({ backends });',
  ' * ```',
  ' *',
  ' * @remarks',
  ' * ```ts',
  " * const skippedToo: number = 'not checked';",
  ' * ```',
  ' */',
  'export const fixture = 1;',
].join('\n');
const fixtureSamples = extractSamples(fixtureFile, fixture);

let errors: string[] = [];
beforeAll(() => {
  errors = checkSamples([...samples, ...fixtureSamples], PRELUDE);
}, 180_000);

describe('TSDoc @example samples', () => {
  it('finds the samples (an extractor bug cannot pass vacuously)', () => {
    expect(samples.length).toBeGreaterThan(300);
    const budget = samples.find(
      (s) => s.file === `${root}src/stages/retry/budget.ts` && s.code.includes('new RetryBudget('),
    );
    expect(budget?.code.split('\n')[0]).toBe("import { RetryBudget } from 'switchyard-lb';");
    expect(readFileSync(`${root}src/stages/retry/budget.ts`, 'utf8').split('\n')[(budget?.line ?? 0) - 1]).toBe(
      ' * ```ts',
    );
  });

  it('extracts only the ts blocks of @example sections, comment markers stripped', () => {
    expect(fixtureSamples).toEqual([
      {
        file: fixtureFile,
        line: 11,
        code: "import { RETRY_ON } from './options.js';\nconst reasons: number = RETRY_ON;\n",
      },
      {
        file: fixtureFile,
        line: 15,
        code: "import { createLoadBalancer } from 'switchyard-lb';\ncreateLoadBalancer({ backends });\n",
      },
    ]);
  });

  it('reports a broken sample at its line in the module', () => {
    const reported = errors.filter((e) => e.startsWith('src/stages/retry/doc-fixture.ts:'));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(
      /^src\/stages\/retry\/doc-fixture\.ts:13: Type '.*' is not assignable to type 'number'\.$/,
    );
  });

  it('compiles every sample under strict', () => {
    expect(errors.filter((e) => !e.startsWith('src/stages/retry/doc-fixture.ts:'))).toEqual([]);
  });
});
