import { z } from 'zod';
import { optionsSchema } from './options.js';

/**
 * The JSON Schema (draft 2020-12) of `createLoadBalancer`'s options, derived
 * from the same zod declarations as the types and the validation, for YAML or
 * JSON configuration files and editor completion. Options that only code can
 * give (functions, clients) appear as unconstrained.
 *
 * @example
 * ```ts
 * import { optionsJsonSchema } from 'switchyard-lb';
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('switchyard.schema.json', JSON.stringify(optionsJsonSchema(), null, 2));
 * ```
 */
export function optionsJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(optionsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
