import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { parseOptions } from '../core/zod.js';

/** How {@link createConfigurator} treats particular sections. */
export interface ConfiguratorOptions<S extends Record<string, z.ZodType>> {
  /** Sections an object patch replaces whole instead of merging into (e.g. a strategy, whose fields depend on its name). */
  readonly replace?: readonly (keyof S)[];
  /** Checks the resolved patch as a whole before anything is applied; throws `ConfigError` to refuse it. */
  readonly check?: (resolved: { [K in keyof S]?: z.output<S[K]> }) => void;
}

/** Applies one resolved section to the running balancer (a section without one is applied by `onApplied`). */
export type SectionUpdaters<S extends Record<string, z.ZodType>> = {
  readonly [K in keyof S]?: (resolved: z.output<S[K]>) => void;
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

/**
 * Makes `lb.configure(patch)`: a validated partial update of the sections in
 * `schemas`, each checked by the same schema as at build time. A section
 * given as an object is merged (shallowly) into the options last given for
 * it, so `{ healthCheck: { interval: '1s' } }` keeps the path; `false` turns
 * a feature off. Every section in the patch is validated before any is
 * applied, so a bad patch changes nothing. `onApplied` receives the resolved
 * sections once all are applied. Sections in `options.replace` are replaced
 * whole, and `options.check` may refuse a patch whose sections conflict.
 *
 * @example
 * ```ts
 * import { createConfigurator } from './configure.js';
 * const configure = createConfigurator({ panicThreshold: z.number() }, { panicThreshold: (v) => (pool.panicThreshold = v) }, {}, () => {});
 * configure({ panicThreshold: 30 });
 * ```
 */
export function createConfigurator<S extends Record<string, z.ZodType>>(
  schemas: S,
  updaters: SectionUpdaters<S>,
  initial: { readonly [K in keyof S]?: unknown },
  onApplied: (resolved: { [K in keyof S]?: z.output<S[K]> }) => void,
  options: ConfiguratorOptions<S> = {},
): (patch: { [K in keyof S]?: z.input<S[K]> }) => void {
  const inputs: Record<string, unknown> = { ...initial };
  const replace = new Set<PropertyKey>(options.replace ?? []);
  const names = Object.keys(schemas);
  return function configure(patch) {
    if (!isPlainObject(patch)) throw new ConfigError('', patch, `an object with any of: ${names.join(', ')}`);
    const resolved: Record<string, unknown> = {};
    const merged: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      if (!Object.hasOwn(schemas, key)) {
        throw new ConfigError(key, value, `an option configure() can change (${names.join(', ')})`);
      }
      if (value === undefined) continue;
      const previous = inputs[key];
      const merge = !replace.has(key) && isPlainObject(previous) && isPlainObject(value);
      const input = merge ? { ...previous, ...value } : value;
      resolved[key] = parseOptions(schemas[key] as z.ZodType, input, key);
      merged[key] = input;
    }
    options.check?.(resolved as { [K in keyof S]?: z.output<S[K]> });
    for (const key of Object.keys(resolved)) {
      (updaters[key] as ((value: unknown) => void) | undefined)?.(resolved[key]);
    }
    Object.assign(inputs, merged);
    onApplied(resolved as { [K in keyof S]?: z.output<S[K]> });
  };
}
