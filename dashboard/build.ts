/**
 * Builds the dashboard into `dist/dashboard`: one hashed JS bundle and one
 * hashed CSS file under `assets/`, an `index.html` naming them, and the
 * licences of the bundled libraries. Run by `npm run build` (and by the test
 * setup, so tests serve the current source).
 *
 * Usage: `tsx dashboard/build.ts [outDir]`.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

/** Bundled libraries whose licence ships beside the bundle. */
const BUNDLED = ['preact', 'uplot'];

/**
 * Builds the dashboard into `outDir` (replacing what was there).
 *
 * @example
 * ```ts
 * await buildDashboard('dist/dashboard');
 * ```
 */
export async function buildDashboard(outDir = join(root, 'dist', 'dashboard')): Promise<{ js: string; css: string }> {
  const result = await build({
    entryPoints: [join(here, 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'app-[hash]',
    outdir: 'assets',
    write: false,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'silent',
    absWorkingDir: root,
  });
  const files = result.outputFiles.map((f) => ({ name: basename(f.path), contents: f.contents }));
  const js = files.find((f) => f.name.endsWith('.js'));
  const css = files.find((f) => f.name.endsWith('.css'));
  if (!js || !css) throw new Error('the dashboard build produced no JS or no CSS');
  const template = await readFile(join(here, 'index.html'), 'utf8');
  const html = template.replace('%JS%', js.name).replace('%CSS%', css.name);
  const licences = await Promise.all(
    BUNDLED.map(
      async (name) =>
        `${name}\n${'='.repeat(name.length)}\n\n${await readFile(join(root, 'node_modules', name, 'LICENSE'), 'utf8')}`,
    ),
  );
  await rm(outDir, { recursive: true, force: true });
  await mkdir(join(outDir, 'assets'), { recursive: true });
  await Promise.all([
    ...files.map((f) => writeFile(join(outDir, 'assets', f.name), f.contents)),
    writeFile(join(outDir, 'index.html'), html),
    writeFile(join(outDir, 'assets', 'LICENSES.txt'), licences.join('\n\n')),
  ]);
  return { js: js.name, css: css.name };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
  const { js, css } = await buildDashboard(out);
  console.log(`dashboard: built ${js} and ${css}`);
}
