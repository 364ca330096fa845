import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configFileJsonSchema, interpolate, parseConfigFile } from '../src/cli/config-file.js';
import { optionsSchema } from '../src/options/options.js';

const root = path.join(import.meta.dirname, '..');

/** Every YAML example shipped: README and docs code blocks, examples/*.yaml. */
function examples(): [string, string][] {
  const out: [string, string][] = [];
  for (const doc of ['README.md', 'docs/cli.md', 'docs/routing.md']) {
    const text = readFileSync(path.join(root, doc), 'utf8');
    let i = 0;
    for (const match of text.matchAll(/```yaml\n([\s\S]*?)```/g)) out.push([`${doc} #${++i}`, match[1] as string]);
  }
  for (const name of readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.yaml'))) {
    out.push([`examples/${name}`, readFileSync(path.join(root, 'examples', name), 'utf8')]);
  }
  return out;
}

/** A value for every `${VAR}` an example reads, so variables without a default resolve. */
function envFor(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    env[match[1] as string] = 'a-value-long-enough-for-any-token-0123456789';
  }
  return env;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validate = ajv.compile(configFileJsonSchema(optionsSchema));

describe('the config file JSON Schema', () => {
  const all = examples();

  it('finds the examples', () => {
    expect(all.filter(([name]) => name.startsWith('examples/')).length).toBeGreaterThanOrEqual(3);
    expect(all.filter(([name]) => name.startsWith('docs/cli.md')).length).toBeGreaterThanOrEqual(5);
    expect(all.filter(([name]) => name.startsWith('README.md')).length).toBeGreaterThanOrEqual(1);
  });

  it.each(all)('validates %s, which the CLI accepts too', (_name, text) => {
    const env = envFor(text);
    const data = interpolate(parse(text) ?? {}, env);
    const ok = validate(data);
    expect(ok ? [] : validate.errors).toEqual([]);
    expect(() => parseConfigFile(text, env)).not.toThrow();
  });

  it('rejects unknown keys, wrong types, routes without a pool and out-of-range values', () => {
    expect(validate({ listeners: [{ port: 'http' }] })).toBe(false);
    expect(validate({ bakends: [] })).toBe(false);
    expect(validate({ routes: [{ prefix: '/a' }] })).toBe(false);
    expect(validate({ pools: { a: { backends: [{ url: 'http://x', wieght: 1 }] } } })).toBe(false);
    expect(validate({ workers: 0 })).toBe(false);
  });
});
