import { z } from 'zod';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';

/**
 * Schema building blocks shared by every module's options. Each module
 * declares its options once, as a zod schema; the TypeScript types, the
 * validation and the CLI's JSON Schema all derive from those declarations.
 */

// Exactly the strings the `Duration` type admits (no sign, exponent or space).
const DURATION_RE = /^\d+(?:\.\d+)?(?:ms|s|m|h)$/;
const DURATION_EXPECTED = "a duration: milliseconds >= 0 or a string such as '250ms', '5s', '1m'";

/** A duration: milliseconds or `'250ms'`/`'5s'`/`'1m'`/`'1h'`; parsed to milliseconds. */
export function duration() {
  return z
    .union(
      [
        z
          .number({ error: DURATION_EXPECTED })
          .finite({ error: DURATION_EXPECTED })
          .nonnegative({ error: DURATION_EXPECTED }),
        // A template literal so the input type is `${number}${DurationUnit}`, as `Duration`: '2 seconds' does not compile.
        z
          .templateLiteral([z.number(), z.enum(['ms', 's', 'm', 'h'])], { error: DURATION_EXPECTED })
          .refine((text) => DURATION_RE.test(text), { error: DURATION_EXPECTED }),
      ],
      { error: DURATION_EXPECTED },
    )
    .transform((value) => parseDuration(value));
}

/** A positive integer. */
export function positiveInt() {
  return z.number().int().positive();
}

/** A function option, opaque to JSON Schema. */
export function fn<T extends (...args: never[]) => unknown>(expected = 'a function') {
  return z.custom<T>((value) => typeof value === 'function', { error: expected });
}

/** Converts a dotted zod path to the `a.b[0].c` form users read. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** `an object`, `a string`: the expected type with its article. */
function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `no unknown keys (unknown: ${issue.keys.join(', ')})`;
    case 'invalid_union':
      return issue.message.startsWith('Invalid input') ? 'one of the documented forms' : issue.message;
    case 'invalid_type':
      // zod's own wording ("Invalid input: expected string, received undefined") repeats the value.
      return issue.message.startsWith('Invalid input') ? article(issue.expected) : issue.message;
    default:
      return issue.message;
  }
}

/**
 * Inside a union that failed, the issue of the branch that got furthest (its
 * first issue lies deepest, then fewest issues), so `rateLimit: { limits: [{ pionts: 1 }] }`
 * names `rateLimit.limits[0].pionts`, not just `rateLimit`. A union whose
 * branches all fail at its own position is the answer itself.
 */
function innermost(issue: z.core.$ZodIssue): [z.core.$ZodIssue, PropertyKey[]] {
  let current = issue;
  let path: PropertyKey[] = [...issue.path];
  while (current.code === 'invalid_union') {
    let best: z.core.$ZodIssue | undefined;
    let bestCount = 0;
    for (const branch of current.errors) {
      const head = branch[0];
      if (!head || head.path.length === 0) continue;
      // Deepest first; on a tie, the branch with fewer problems is the one meant.
      const depth = best?.path.length ?? 0;
      if (head.path.length > depth || (head.path.length === depth && branch.length < bestCount)) {
        best = head;
        bestCount = branch.length;
      }
    }
    if (!best) break;
    current = best;
    path = [...path, ...best.path];
  }
  return [current, path];
}

/**
 * Parses `input` with `schema`, turning the first problem into a
 * {@link ConfigError} that names the option path, the bad value and what was
 * expected.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  if (!first) throw new ConfigError(prefix, input, 'valid options');
  const [issue, at] = innermost(first);
  const path = issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? [...at, issue.keys[0] as string] : at;
  const value = valueAt(input, path);
  throw new ConfigError(formatPath(path, prefix), value, expectedOf(issue));
}
