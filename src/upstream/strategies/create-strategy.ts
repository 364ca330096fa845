import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import type { Candidate, Strategy } from '../../core/strategy.js';
import { formatPath, parseOptions } from '../../core/zod.js';
import { type ConsistentHashOptions, consistentHash, consistentHashOptionsSchema } from './consistent-hash.js';
import { leastConnections } from './least-connections.js';
import {
  type LeastResponseTimeOptions,
  leastResponseTime,
  leastResponseTimeOptionsSchema,
} from './least-response-time.js';
import { type MaglevOptions, maglev, maglevOptionsSchema } from './maglev.js';
import { type P2cOptions, p2c, p2cOptionsSchema } from './p2c.js';
import { random } from './random.js';
import { roundRobin } from './round-robin.js';
import { weightedRandom } from './weighted-random.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

/**
 * Names of the built-in strategies.
 *
 * @example
 * ```ts
 * import { STRATEGY_NAMES } from './create-strategy.js';
 * STRATEGY_NAMES.includes('maglev'); // true
 * ```
 */
export const STRATEGY_NAMES = [
  'p2c',
  'round-robin',
  'weighted-round-robin',
  'random',
  'weighted-random',
  'least-connections',
  'least-response-time',
  'consistent-hash',
  'maglev',
] as const;

/**
 * A built-in strategy name.
 *
 * @example
 * ```ts
 * import { type StrategyName } from './create-strategy.js';
 * const name: StrategyName = 'least-connections';
 * ```
 */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/**
 * The strategy used when none is configured: power of two choices over
 * peak-EWMA latency. See {@link p2c} for why.
 *
 * @example
 * ```ts
 * import { DEFAULT_STRATEGY, createStrategy } from './create-strategy.js';
 * createStrategy().name === DEFAULT_STRATEGY; // true: 'p2c'
 * ```
 */
export const DEFAULT_STRATEGY: StrategyName = 'p2c';

const NAME_LIST = STRATEGY_NAMES.join(', ');

/**
 * `true` for a user-supplied strategy: any object with a `pick` function.
 *
 * @example
 * ```ts
 * import { isStrategy } from './create-strategy.js';
 * isStrategy({ name: 'mine', pick: (c: unknown[]) => c[0] }); // true
 * isStrategy({ name: 'maglev' }); // false: options, not a strategy
 * ```
 */
export function isStrategy(value: unknown): value is Strategy {
  return typeof value === 'object' && value !== null && typeof (value as { pick?: unknown }).pick === 'function';
}

/**
 * `{ name, ...options }` for each built-in strategy; unknown keys are errors.
 *
 * @example
 * ```ts
 * import { namedStrategySchema } from './create-strategy.js';
 * namedStrategySchema.parse({ name: 'maglev' }); // { name: 'maglev', key: 'ip', tableSize: 65537 }
 * ```
 */
export const namedStrategySchema = z.discriminatedUnion('name', [
  p2cOptionsSchema.extend({ name: z.literal('p2c') }),
  z.strictObject({ name: z.literal('round-robin') }),
  z.strictObject({ name: z.literal('weighted-round-robin') }),
  z.strictObject({ name: z.literal('random') }),
  z.strictObject({ name: z.literal('weighted-random') }),
  z.strictObject({ name: z.literal('least-connections') }),
  leastResponseTimeOptionsSchema.extend({ name: z.literal('least-response-time') }),
  consistentHashOptionsSchema.extend({ name: z.literal('consistent-hash') }),
  maglevOptionsSchema.extend({ name: z.literal('maglev') }),
]);

/**
 * `{ name, ...options }`, as written by users.
 *
 * @example
 * ```ts
 * import { type NamedStrategyOptions } from './create-strategy.js';
 * const option: NamedStrategyOptions = { name: 'p2c', decay: '5s' };
 * ```
 */
export type NamedStrategyOptions =
  | NamedP2cOptions
  | { name: 'round-robin' }
  | { name: 'weighted-round-robin' }
  | { name: 'random' }
  | { name: 'weighted-random' }
  | { name: 'least-connections' }
  | NamedLeastResponseTimeOptions
  | NamedConsistentHashOptions
  | NamedMaglevOptions;

/** `strategy: { name: 'p2c', ... }`: the {@link P2cOptions} but `random` (the balancer's own `random` is used). */
export interface NamedP2cOptions extends Omit<P2cOptions, 'random'> {
  /** The strategy. */
  name: 'p2c';
}

/** `strategy: { name: 'least-response-time', ... }`: the {@link LeastResponseTimeOptions} but `random`. */
export interface NamedLeastResponseTimeOptions extends Omit<LeastResponseTimeOptions, 'random'> {
  /** The strategy. */
  name: 'least-response-time';
}

/** `strategy: { name: 'consistent-hash', ... }` with the {@link ConsistentHashOptions}. */
export interface NamedConsistentHashOptions extends ConsistentHashOptions {
  /** The strategy. */
  name: 'consistent-hash';
}

/** `strategy: { name: 'maglev', ... }` with the {@link MaglevOptions}. */
export interface NamedMaglevOptions extends MaglevOptions {
  /** The strategy. */
  name: 'maglev';
}

function unionMessage(issue: { code?: string; input?: unknown; errors?: unknown }): string | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const input = issue.input;
  const name =
    typeof input === 'string'
      ? input
      : typeof input === 'object' && input !== null
        ? (input as { name?: unknown }).name
        : undefined;
  if (
    (STRATEGY_NAMES as readonly unknown[]).includes(name) &&
    typeof input === 'object' &&
    Array.isArray(issue.errors)
  ) {
    // A known name with a bad option: say which, since the union can only report its own path.
    for (const branch of issue.errors as { path: PropertyKey[]; message: string }[][]) {
      const first = branch[0];
      if (first && first.path.length > 0)
        return `valid ${String(name)} options (${formatPath(first.path)}: ${first.message})`;
    }
  }
  if (typeof name === 'string') return `a strategy name, one of: ${NAME_LIST}; or an object with a pick() function`;
  return `a strategy name (${NAME_LIST}), { name, ...options }, or an object with a pick() function`;
}

/**
 * The `strategy` option: a built-in name, `{ name, ...options }`, or a user
 * object implementing {@link Strategy} (detected by its `pick` function, and
 * passed through untouched). Embed it in a larger schema; for errors that
 * name the exact sub-option, build with {@link createStrategy}.
 * @default 'p2c'
 *
 * @example
 * ```ts
 * import { DEFAULT_STRATEGY, strategyOptionSchema } from './create-strategy.js';
 * const optionsSchema = z.strictObject({ strategy: strategyOptionSchema.default(DEFAULT_STRATEGY) });
 * ```
 */
export const strategyOptionSchema = z.union(
  [
    z.custom<Strategy<Candidate>>(isStrategy, { error: 'an object with a pick() function' }),
    z.enum(STRATEGY_NAMES),
    namedStrategySchema,
  ],
  { error: unionMessage },
);

/**
 * The `strategy` option, as written by users.
 *
 * @example
 * ```ts
 * import { type StrategyOption } from './create-strategy.js';
 * const option: StrategyOption = { name: 'consistent-hash', key: { header: 'x-user' } };
 * ```
 */
export type StrategyOption = StrategyName | NamedStrategyOptions | Strategy<Candidate>;

/**
 * What strategies may be given from outside the options.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { createStrategy } from './create-strategy.js';
 * createStrategy('p2c', { random: seededRandom(42) });
 * ```
 */
export interface StrategyDeps {
  /** Uniform `[0, 1)` source for strategies that draw random numbers. @default Math.random */
  readonly random?: () => number;
}

/**
 * Builds a strategy from the `strategy` option: a name (`'round-robin'`),
 * `{ name, ...options }`, or a user object implementing {@link Strategy},
 * returned as is. `undefined` gives the default, {@link DEFAULT_STRATEGY}.
 * Bad input throws a `ConfigError` naming the option path, e.g.
 * `strategy.name` (listing the valid names) or `strategy.tableSize`.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { createStrategy } from './create-strategy.js';
 * createStrategy('p2c');
 * createStrategy({ name: 'consistent-hash', key: { header: 'x-user' }, balanceFactor: 1.25 });
 * createStrategy({ name: 'mine', pick: (candidates) => candidates[0] });
 * createStrategy('random', { random: seededRandom(1) }); // deterministic tests
 * ```
 */
export function createStrategy<B extends Candidate = Candidate>(
  option: StrategyOption | undefined = DEFAULT_STRATEGY,
  deps: StrategyDeps = {},
): Strategy<B> {
  // A user strategy returns one of the candidates it is given, so it serves any B.
  if (isStrategy(option)) return option as unknown as Strategy<B>;
  const isObject = typeof option === 'object' && option !== null && !Array.isArray(option);
  const name: unknown = isObject ? (option as { name?: unknown }).name : option;
  if (!(STRATEGY_NAMES as readonly unknown[]).includes(name)) {
    const expected = `a strategy name, one of: ${NAME_LIST}; or an object with a pick() function`;
    if (isObject) throw new ConfigError('strategy.name', name, expected);
    throw new ConfigError('strategy', option, expected);
  }
  const parsed = parseOptions(namedStrategySchema, isObject ? option : { name }, 'strategy');
  const rnd = deps.random;
  switch (parsed.name) {
    case 'p2c':
      return p2c<B>({ decay: parsed.decay, failurePenalty: parsed.failurePenalty, random: rnd });
    case 'round-robin':
      return roundRobin<B>();
    case 'weighted-round-robin':
      return weightedRoundRobin<B>();
    case 'random':
      return random<B>({ random: rnd });
    case 'weighted-random':
      return weightedRandom<B>({ random: rnd });
    case 'least-connections':
      return leastConnections<B>({ random: rnd });
    case 'least-response-time':
      return leastResponseTime<B>({ decay: parsed.decay, failurePenalty: parsed.failurePenalty, random: rnd });
    case 'consistent-hash':
      return consistentHash<B>({
        key: parsed.key,
        virtualNodes: parsed.virtualNodes,
        balanceFactor: parsed.balanceFactor,
      });
    case 'maglev':
      return maglev<B>({ key: parsed.key, tableSize: parsed.tableSize });
  }
}
