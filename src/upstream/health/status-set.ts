import { z } from 'zod';

/** A set of HTTP statuses as inclusive `[min, max]` ranges. */
export type StatusRanges = ReadonlyArray<readonly [number, number]>;

const EXPECTED = 'an HTTP status (100-599), a [min, max] range, or a list of statuses and ranges';
const httpStatus = z.number({ error: EXPECTED }).int({ error: EXPECTED }).min(100, EXPECTED).max(599, EXPECTED);
const range = z.tuple([httpStatus, httpStatus]);

/**
 * A status set option: `503`, a range `[500, 599]`, or a list mixing both
 * (`[200, 204, [300, 399]]`). A two-number array is always a range; write a
 * list of two single statuses as `[200, [204, 204]]`. Resolves to ranges.
 */
export function statusSet() {
  return z
    .union([httpStatus, range, z.array(z.union([httpStatus, range])).min(1, EXPECTED)], { error: EXPECTED })
    .superRefine((value, ctx) => {
      const check = (r: readonly [number, number], path: number[]) => {
        if (r[0] > r[1]) ctx.addIssue({ code: 'custom', path, message: 'a range [min, max] with min <= max' });
      };
      if (typeof value === 'number') return;
      if (isRange(value)) check(value, []);
      else
        value.forEach((item, i) => {
          if (typeof item !== 'number') check(item, [i]);
        });
    })
    .transform((value): StatusRanges => {
      if (typeof value === 'number') return [[value, value]];
      if (isRange(value)) return [[value[0], value[1]]];
      return value.map((item) => (typeof item === 'number' ? [item, item] : [item[0], item[1]]));
    });
}

function isRange(value: unknown): value is [number, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number';
}

/**
 * A fast membership test for a resolved status set: a 600-entry table.
 *
 * @example
 * ```ts
 * import { statusMatcher } from './status-set.js';
 * const ok = statusMatcher([[200, 399]]);
 * ok(204); // true
 * ok(503); // false
 * ```
 */
export function statusMatcher(ranges: StatusRanges): (status: number) => boolean {
  const table = new Uint8Array(600);
  for (const [min, max] of ranges) table.fill(1, min, max + 1);
  return (status) => table[status] === 1;
}
