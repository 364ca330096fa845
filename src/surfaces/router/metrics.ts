/**
 * Merges the Prometheus text of several balancers into one exposition, each
 * sample labelled with its pool. Families stay contiguous (HELP and TYPE
 * once, then every pool's samples), as the text format requires.
 *
 * @module
 */

interface Family {
  head: string[];
  samples: string[];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Adds `pool="name"` as the first label of one sample line. */
function labelled(line: string, label: string): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace !== -1 && (space === -1 || brace < space)) {
    const rest = line.slice(brace + 1);
    return `${line.slice(0, brace)}{${label}${rest.startsWith('}') ? '' : ','}${rest}`;
  }
  return space === -1 ? line : `${line.slice(0, space)}{${label}}${line.slice(space)}`;
}

/** The family a sample belongs to: its name without a histogram/summary suffix known from TYPE lines. */
function familyOf(name: string, families: Map<string, Family>): string {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (families.has(base)) return base;
    }
  }
  return name;
}

/**
 * One exposition from `[pool, text]` pairs.
 *
 * @example
 * ```ts
 * import { mergeExpositions } from './metrics.js';
 * declare const a: import('../../index.ts').LoadBalancer, b: import('../../index.ts').LoadBalancer;
 * mergeExpositions([
 *   ['api', (await a.metricsRegistry?.metrics()) ?? ''],
 *   ['web', (await b.metricsRegistry?.metrics()) ?? ''],
 * ]);
 * ```
 */
export function mergeExpositions(parts: readonly (readonly [string, string])[]): string {
  const families = new Map<string, Family>();
  for (const [pool, text] of parts) {
    const label = `pool="${escapeLabel(pool)}"`;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const [, kind, name] = line.split(' ', 3);
        if ((kind === 'HELP' || kind === 'TYPE') && name) {
          let family = families.get(name);
          if (!family) {
            family = { head: [], samples: [] };
            families.set(name, family);
          }
          if (!family.head.some((h) => h.startsWith(`# ${kind} `))) family.head.push(line);
        }
        continue;
      }
      const end = line.search(/[{ ]/);
      const name = end === -1 ? line : line.slice(0, end);
      const key = familyOf(name, families);
      let family = families.get(key);
      if (!family) {
        family = { head: [], samples: [] };
        families.set(key, family);
      }
      family.samples.push(labelled(line, label));
    }
  }
  let out = '';
  for (const family of families.values()) {
    for (const line of family.head) out += `${line}\n`;
    for (const line of family.samples) out += `${line}\n`;
  }
  return out;
}
