import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { root, typeCheck, withPrelude } from './samples.ts';

// Every ```ts block of the README type-checks under the project's strict settings, against src/.
const readme = readFileSync(`${root}README.md`, 'utf8');
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => ({
  line: readme.slice(0, m.index).split('\n').length,
  code: m[1] as string,
}));

// Names the README's fragments use without declaring: declared here, unless the block declares or imports them.
const PRELUDE: Record<string, string> = {
  http: "import http from 'node:http';",
  createLoadBalancer: "import { createLoadBalancer } from '../src/index.ts';",
  lb: "declare const lb: import('../src/index.ts').LoadBalancer;",
  backends: "declare const backends: import('../src/index.ts').BackendOptions[];",
  app: 'declare const app: { use(...handlers: unknown[]): void };',
  koaApp: 'declare const koaApp: { use(middleware: unknown): void };',
  log: 'declare const log: { warn(...values: unknown[]): void };',
  token: 'declare const token: string;',
  server: "declare const server: import('node:http').Server;",
};

describe('README code samples', () => {
  it('has TypeScript samples to check', () => {
    expect(blocks.length).toBeGreaterThan(5);
  });

  it('compiles every ```ts block under strict', { timeout: 60_000 }, () => {
    const files = new Map<string, string>();
    for (const { line, code } of blocks) {
      const text = code
        .replaceAll(/'switchyard(-lb)?\/testing'/g, "'../src/testing/index.ts'")
        .replaceAll(/'switchyard(-lb)?'/g, "'../src/index.ts'");
      files.set(`${root}test/readme-line-${line}.ts`, withPrelude(text, PRELUDE));
    }
    expect(typeCheck(files)).toEqual([]);
  });
});
