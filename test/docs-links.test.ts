import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pages = [
  'README.md',
  'CHANGELOG.md',
  'examples/README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

// Guides other branches write; linked from the index before they land.
const PENDING = new Set<string>(
  ['routing', 'cluster', 'cli', 'security', 'performance', 'dashboard', 'architecture']
    .map((name) => `docs/${name}.md`)
    .filter((file) => !existsSync(path.join(root, file))),
);

/** Relative link targets of a markdown page (no URLs, no pure anchors), resolved from the repository root. */
function links(page: string): string[] {
  const text = readFileSync(path.join(root, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  const out: string[] = [];
  for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1] as string;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    const file = target.split('#')[0] as string;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(page), file)));
  }
  return out;
}

describe('documentation links', () => {
  it.each(pages)('%s links only to files that exist', (page) => {
    const missing = links(page).filter((target) => !existsSync(path.join(root, target)) && !PENDING.has(target));
    expect(missing).toEqual([]);
  });
});
