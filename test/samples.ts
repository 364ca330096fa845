import { readdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// Shared by the README and TSDoc sample tests: type-checks in-memory files under tsconfig.json (strict), in one program.
export const root = fileURLToPath(new URL('../', import.meta.url));

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

/**
 * Prefixes a sample with the prelude lines (name → declaration) for the names it uses without declaring or
 * importing them, so a fragment such as `lb.close()` type-checks against a declared, fully typed `lb`.
 */
export function withPrelude(code: string, prelude: Record<string, string>): string {
  const declared = (name: string) =>
    new RegExp(
      `(?:const|let|var|function|class|import(?:\\s+type)?)\\s+(?:\\{[^}]*\\b${name}\\b[^}]*\\}|\\[[^\\]]*\\b${name}\\b[^\\]]*\\]|${name}\\b)`,
    ).test(code);
  const lines = Object.entries(prelude)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(code) && !declared(name))
    .map(([, line]) => line);
  return `${lines.join('\n')}\n${code}\nexport {};\n`;
}

/** Compiles the files (absolute path → text) together; returns one `path:line: message` per diagnostic. */
export function typeCheck(files: Map<string, string>): string[] {
  const p = program(files);
  return [...files.keys()].flatMap((name) =>
    ts.getPreEmitDiagnostics(p, p.getSourceFile(name)).map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      return `${name.slice(root.length)}:${where + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    }),
  );
}

/** A fenced ```ts block of an `@example` section in a TSDoc comment. */
export interface Sample {
  /** The module the sample is documented in (absolute path). */
  file: string;
  /** 1-based line of the opening fence in that module. */
  line: number;
  /** The block's lines, the comment's leading ` * ` stripped. */
  code: string;
}

/** The ```ts / ```typescript blocks of the `@example` sections of the TSDoc comments in `text` (the source of `file`). */
export function extractSamples(file: string, text: string): Sample[] {
  const samples: Sample[] = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const first = text.slice(0, comment.index).split('\n').length;
    const lines = comment[0].split('\n').map((l) => l.replace(/^\s*\/?\*+\/?(?: |$)/, '').replace(/\s*\*\/$/, ''));
    let inExample = false;
    let fence: { line: number; code: string[]; ts: boolean } | undefined;
    lines.forEach((l, i) => {
      if (fence) {
        if (/^\s*```\s*$/.test(l)) {
          if (fence.ts && inExample) samples.push({ file, line: fence.line, code: `${fence.code.join('\n')}\n` });
          fence = undefined;
        } else fence.code.push(l);
        return;
      }
      const open = /^\s*```(\w*)/.exec(l);
      if (open) fence = { line: first + i, code: [], ts: open[1] === 'ts' || open[1] === 'typescript' };
      else if (/^\s*@example\b/.test(l)) inExample = true;
      else if (/^\s*@\w+/.test(l)) inExample = false;
    });
  }
  return samples;
}

/** The modules under `dir` (recursively), tests excluded. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * Type-checks the samples in one program, each as an in-memory file next to its module (so relative imports
 * resolve as from the module), `'switchyard-lb'` and `'switchyard-lb/testing'` mapped to src/ as users import
 * them, prefixed with the prelude lines it needs (`'@/x'` in a prelude line is src/x). Returns one
 * `module:line: message` per diagnostic, the line the module's own (the sample's line in its comment).
 */
export function checkSamples(samples: readonly Sample[], prelude: Record<string, string>): string[] {
  const files = new Map<string, string>();
  const origins = new Map<string, { sample: Sample; codeLine: number }>();
  for (const sample of samples) {
    const dir = dirname(sample.file);
    const to = (path: string) => {
      const rel = relative(dir, `${root}${path}`);
      return rel.startsWith('.') ? rel : `./${rel}`;
    };
    const code = sample.code
      .replaceAll(
        /(from |import\()'switchyard-lb\/testing'/g,
        (_, from: string) => `${from}'${to('src/testing/index.ts')}'`,
      )
      .replaceAll(/(from |import\()'switchyard-lb'/g, (_, from: string) => `${from}'${to('src/index.ts')}'`);
    const lines = Object.fromEntries(
      Object.entries(prelude).map(([name, line]) => [
        name,
        line.replaceAll(/'@\/([^']+)'/g, (_, path: string) => `'${to(`src/${path}`)}'`),
      ]),
    );
    const text = withPrelude(code, lines);
    const path = `${sample.file.slice(0, -'.ts'.length)}.sample-${sample.line}.ts`;
    files.set(path, text);
    origins.set(path.slice(root.length), { sample, codeLine: text.slice(0, text.indexOf(code)).split('\n').length });
  }
  return typeCheck(files).map((diagnostic) => {
    const [, path = '', line = '0', message = ''] = /^([^:]+):(\d+): ([\s\S]*)$/.exec(diagnostic) ?? [];
    const origin = origins.get(path);
    if (!origin) return diagnostic;
    const at = Number(line) - origin.codeLine;
    const where = at < 0 ? `${origin.sample.line} (prelude)` : String(origin.sample.line + 1 + at);
    return `${origin.sample.file.slice(root.length)}:${where}: ${message}`;
  });
}
