/**
 * The one place switchyard reaches into rate-limiter-flexible's internals.
 * Pinned: `rate-limiter-flexible.test.ts` fails when the installed version or
 * the internal changes, so an upgrade is a conscious step.
 *
 * @module
 */
import type { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** The rate-limiter-flexible version this file was written against. */
export const RATE_LIMITER_FLEXIBLE_VERSION = '11.4.0';

/** The contract of `RateLimiterMemory`'s storage, as its `consume`/`get`/`delete` use it. */
export interface MemoryStorage {
  incrby(key: string, value: number, durationSec: number): RateLimiterRes;
  set(key: string, value: number, durationSec: number): RateLimiterRes;
  get(key: string): RateLimiterRes | null;
  delete(key: string): boolean;
}

/**
 * Makes a `RateLimiterMemory` count in `storage` (its `_memoryStorage` field
 * is internal; there is no option for a storage or a clock).
 *
 * @example
 * ```ts
 * import { replaceMemoryStorage } from './rate-limiter-flexible.js';
 * declare const limiter: Parameters<typeof replaceMemoryStorage>[0];
 * declare const ClockedStorage: new (now: () => number) => import('./rate-limiter-flexible.js').MemoryStorage;
 * replaceMemoryStorage(limiter, new ClockedStorage(now));
 * ```
 */
export function replaceMemoryStorage(limiter: RateLimiterMemory, storage: MemoryStorage): void {
  (limiter as unknown as { _memoryStorage: MemoryStorage })._memoryStorage = storage;
}

/** The storage a `RateLimiterMemory` counts in now (for the pinned test). */
export function memoryStorageOf(limiter: RateLimiterMemory): MemoryStorage | undefined {
  return (limiter as unknown as { _memoryStorage?: MemoryStorage })._memoryStorage;
}
