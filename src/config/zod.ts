import { z } from 'zod';
import { parseDuration } from '../duration.js';
import { ConfigError } from '../errors.js';

/**
 * Schema building blocks shared by every module's options. Each module
 * declares its options once, as a zod schema; the TypeScript types, the
 * validation and the CLI's JSON Schema all derive from those declarations.
 */

const DURATION_RE = /^\d+(?:\.\d+)?\s*(?:ms|s|m|h)$/;
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
        z.string({ error: DURATION_EXPECTED }).regex(DURATION_RE, { error: DURATION_EXPECTED }),
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

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `no unknown keys (unknown: ${issue.keys.join(', ')})`;
    case 'invalid_union':
      return issue.message.startsWith('Invalid input') ? 'one of the documented forms' : issue.message;
    default:
      return issue.message;
  }
}

/**
 * The issue to report for a failed union such as `false | { ... }`: when one
 * branch got past the type check (its first issue lies deeper than the
 * union), that branch's issue names the real culprit, e.g.
 * `healthCheck.interval` rather than `healthCheck`.
 */
function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first && first.path.length > 0 && (!best || first.path.length > best.path.length)) best = first;
  }
  return best ? innermost({ ...best, path: [...issue.path, ...best.path] }) : issue;
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
  const issue = innermost(first);
  const path =
    issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? [...issue.path, issue.keys[0] as string] : issue.path;
  const value = valueAt(input, path);
  throw new ConfigError(formatPath(path, prefix), value, expectedOf(issue));
}
