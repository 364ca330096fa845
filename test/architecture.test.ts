import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The dependency rule of docs/architecture.md, checked on every import in src/ (type-only ones included).
const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Layers from the bottom up: a file may import its own layer and the ones below, never one above. */
const LAYERS = ['vendor', 'core', 'upstream', 'stages', 'control', 'surfaces', 'options', 'root', 'cli'] as const;

function layerOf(file: string): (typeof LAYERS)[number] | 'testing' {
  const top = file.split('/')[0] as string;
  if (top === 'testing') return 'testing';
  if (!file.includes('/')) return 'root';
  if ((LAYERS as readonly string[]).includes(top)) return top as (typeof LAYERS)[number];
  throw new Error(`${file} is in no layer: add its folder to docs/architecture.md and this test`);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [relative(src, path)] : [];
  });
}

const IMPORT = /(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g;

function importsOf(file: string): string[] {
  // Code only: a TSDoc @example's imports (comment lines, starting with `*`) are the sample's, not the module's.
  const text = readFileSync(join(src, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*\*/.test(line))
    .join('\n');
  return [...text.matchAll(IMPORT)].map((m) =>
    normalize(join(dirname(file), (m[1] as string).replace(/\.js$/, '.ts'))).replaceAll('\\', '/'),
  );
}

const files = sources(src).map((f) => f.replaceAll('\\', '/'));
const fileSet = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((target) => fileSet.has(target))]));

describe('architecture', () => {
  it('puts every source file in a layer', () => {
    for (const file of files) expect(() => layerOf(file)).not.toThrow();
  });

  it('imports only downwards: vendor ← core ← upstream ← stages ← control ← surfaces ← options ← balancer ← cli', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      for (const target of targets) {
        const to = layerOf(target);
        if (from === 'testing' || to === 'testing') {
          // The testing kit is for users' tests: it may use core, and nothing in the library depends on it.
          if (from === 'testing' && (to === 'core' || to === 'testing')) continue;
          upward.push(`${file} → ${target}`);
          continue;
        }
        if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps stages apart: no stage imports another stage', () => {
    const crossing: string[] = [];
    // stages/<name>/… is a stage; the files directly in stages/ (the list, deps, pipeline) are the registry.
    const stageOf = (file: string) => {
      const parts = file.split('/');
      return parts[0] === 'stages' && parts.length > 2 ? parts[1] : undefined;
    };
    for (const [file, targets] of graph) {
      const own = stageOf(file);
      if (own === undefined) continue;
      for (const target of targets) {
        const other = stageOf(target);
        if (other !== undefined && other !== own) crossing.push(`${file} → ${target}`);
      }
    }
    expect(crossing).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        const seen = state.get(target);
        if (seen === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' → '));
        else if (seen === undefined && graph.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('lets only the pool write backend eligibility', () => {
    const writers = files.filter((file) => readFileSync(join(src, file), 'utf8').includes('writeEligibility('));
    expect(writers.sort()).toEqual(['core/backend.ts', 'upstream/pool/pool.ts']);
  });

  it('touches dependency internals only in src/vendor/, one file per dependency', () => {
    const internals = ['webPasses', 'rotateBucket(', '_memoryStorage', 'getForPromString'];
    const offenders = files.filter(
      (file) =>
        !file.startsWith('vendor/') && internals.some((name) => readFileSync(join(src, file), 'utf8').includes(name)),
    );
    expect(offenders).toEqual([]);
  });

  it('keeps balancer.ts a composition root well under 300 lines', () => {
    const lines = readFileSync(join(src, 'balancer.ts'), 'utf8').split('\n').length;
    expect(lines).toBeLessThan(250);
  });
});
