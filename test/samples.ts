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
