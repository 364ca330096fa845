/**
 * Label values kept to bounded sets, so a hostile or merely varied client
 * cannot grow the number of series: methods outside the standard ones become
 * `OTHER`, statuses become their class, and free-form names (backend ids,
 * rate-limit names) are capped per metric family.
 */

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Label value used once a capped label has seen its maximum of distinct values. */
export const OVERFLOW_LABEL = 'other';

/**
 * The `method` label: a standard method (RFC 9110 and PATCH) as sent, anything
 * else `OTHER`.
 *
 * @example
 * ```ts
 * import { methodLabel } from './labels.js';
 * methodLabel('GET'); // 'GET'
 * methodLabel('PURGE'); // 'OTHER'
 * ```
 */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}

const CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Index of a status class in {@link STATUS_CLASSES}: 1 to 5 for 1xx to 5xx, 0 otherwise. */
export function statusClassIndex(status: number): number {
  const hundreds = Math.floor(status / 100);
  return hundreds >= 1 && hundreds <= 5 ? hundreds : 0;
}

/** Status class labels, indexed by {@link statusClassIndex}. */
export const STATUS_CLASSES: readonly string[] = CLASSES;

/**
 * The `status_class` label of a status: `'2xx'`, `'4xx'`... or `'other'`.
 *
 * @example
 * ```ts
 * import { statusClass } from './labels.js';
 * statusClass(503); // '5xx'
 * ```
 */
export function statusClass(status: number): string {
  return CLASSES[statusClassIndex(status)] as string;
}

/**
 * A set of label values that stops growing at `max`: later new values map to
 * {@link OVERFLOW_LABEL}. Values can be released (a backend left the pool).
 *
 * @example
 * ```ts
 * import { BoundedLabel } from './labels.js';
 * const limits = new BoundedLabel(2);
 * limits.value('a'); limits.value('b');
 * limits.value('c'); // 'other'
 * ```
 */
export class BoundedLabel {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** `value` itself while the set has room or already holds it, else `'other'`. */
  value(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return OVERFLOW_LABEL;
    this.#seen.add(value);
    return value;
  }

  /** Frees the slot of a value that will not be seen again. */
  release(value: string): void {
    this.#seen.delete(value);
  }
}
