import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Every ```ts block of the README type-checks under the project's strict settings, against src/.
const root = fileURLToPath(new URL('../', import.meta.url));
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

function program(files: Map<string, string>): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(
    `${root}tsconfig.json`,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => {},
    },
  ) as ts.ParsedCommandLine;
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, onError) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile(name, version, onError) : ts.createSourceFile(name, text, version);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  return ts.createProgram([...files.keys()], { ...config.options, noEmit: true }, host);
}

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
      const declared = (name: string) =>
        new RegExp(`(?:const|let|import)\\s+(?:\\{[^}]*\\b${name}\\b[^}]*\\}|${name}\\b)`).test(text);
      const prelude = Object.entries(PRELUDE)
        .filter(([name, line]) => new RegExp(`\\b${name}\\b`).test(text) && !declared(name) && line)
        .map(([, line]) => line);
      files.set(`${root}test/readme-line-${line}.ts`, `${prelude.join('\n')}\n${text}\nexport {};\n`);
    }
    const p = program(files);
    const problems = [...files.keys()].flatMap((name) =>
      ts.getPreEmitDiagnostics(p, p.getSourceFile(name)).map((d) => {
        const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
        return `${name.slice(root.length)}:${where + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      }),
    );
    expect(problems).toEqual([]);
  });
});
