/**
 * Selection strategies: how the balancer picks a backend for each request.
 *
 * @example
 * ```ts
 * import { createStrategy } from './index.js';
 * const strategy = createStrategy({ name: 'maglev', key: { cookie: 'session' } });
 * ```
 */

export type { Candidate, Sample, SelectionContext, Strategy } from '../../core/strategy.js';
export {
  type ConsistentHashOptions,
  consistentHash,
  consistentHashOptionsSchema,
  MAX_RING_POINTS,
} from './consistent-hash.js';
export {
  createStrategy,
  DEFAULT_STRATEGY,
  isStrategy,
  type NamedStrategyOptions,
  namedStrategySchema,
  STRATEGY_NAMES,
  type StrategyDeps,
  type StrategyName,
  type StrategyOption,
  strategyOptionSchema,
} from './create-strategy.js';
export { fmix32, murmur3, PreparedMurmur3 } from './hash.js';
export {
  createHashKey,
  findCookie,
  type HashKey,
  type HashKeyFunction,
  type HashKeyOption,
  hashKeySchema,
  MAX_COOKIE_SCAN,
} from './hash-key.js';
export { leastConnections } from './least-connections.js';
export {
  type LeastResponseTimeOptions,
  leastResponseTime,
  leastResponseTimeOptionsSchema,
} from './least-response-time.js';
export {
  isPrime,
  MAX_MAGLEV_TABLE_SIZE,
  type MaglevOptions,
  type MaglevStrategy,
  maglev,
  maglevOptionsSchema,
  nextPrime,
} from './maglev.js';
export { type P2cOptions, p2c, p2cOptionsSchema } from './p2c.js';
export { type RandomSource, random, seededRandom } from './random.js';
export { roundRobin } from './round-robin.js';
export { weightedRandom } from './weighted-random.js';
export { weightedRoundRobin } from './weighted-round-robin.js';
