/** Options holding objects the caller owns and keeps using: never frozen, even when plain objects. */
const CALLER_OWNED = new Set(['logger', 'registry', 'client', 'strategy', 'limiter']);

/**
 * Freezes the plain data of a resolved configuration, deeply; a user's
 * registry, logger, Redis client, strategy or limiter stays usable.
 *
 * @example
 * ```ts
 * import { deepFreeze } from './freeze.js';
 * const frozen = deepFreeze({ retry: { attempts: 2 } });
 * ```
 */
export function deepFreeze<T>(value: T): T {
  const proto = value && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (value && (proto === Object.prototype || proto === null || Array.isArray(value)) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) {
      if (!CALLER_OWNED.has(key)) deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}
