import type { RedisClient } from '../../core/redis.js';
import {
  type LimitDecision,
  type Limiter,
  passDecision,
  type RedisErrorPolicy,
  unavailableDecision,
} from './limiter.js';

/** Where a Redis-backed limiter keeps its keys and what it does while Redis is away. */
export interface RedisStoreOptions {
  /** An ioredis client; create it with `enableOfflineQueue: false` so commands fail fast while disconnected. */
  readonly client: RedisClient;
  /** Prefix of this limit's keys, e.g. `'switchyard:rl:sw:per-second:'`. */
  readonly keyPrefix: string;
  /** While Redis cannot answer. @default 'insurance' */
  readonly onRedisError?: RedisErrorPolicy | undefined;
  /**
   * Clock passed to the Lua scripts, in ms since an epoch shared by every
   * instance. By default Redis's own `TIME` is used, which needs no agreement
   * between hosts; set it only in tests or when you own a shared clock.
   */
  readonly now?: (() => number) | undefined;
  /**
   * Instances sharing the limit while Redis is away (`rateLimit.outageInstances`):
   * the insurance limiter admits `1 / n` of the limit on each, so the cluster
   * as a whole stays near the global limit. Read at each decision. @default () => 1
   */
  readonly outageInstances?: (() => number) | undefined;
}

/**
 * The divisor of an outage share, made safe: an integer >= 1.
 *
 * @example
 * ```ts
 * import { outageDivisor } from './store-fallback.js';
 * outageDivisor(() => 3)(); // 3
 * ```
 */
export function outageDivisor(instances: (() => number) | undefined): () => number {
  if (!instances) return () => 1;
  return () => {
    const n = Math.floor(instances());
    return Number.isFinite(n) && n > 1 ? n : 1;
  };
}

/** The insurance limiter's decision in the units the caller asked in: costs were multiplied by `k`. */
function unscale(decision: LimitDecision, k: number): LimitDecision {
  if (k === 1) return decision;
  return {
    ...decision,
    limit: Math.max(1, Math.floor(decision.limit / k)),
    remaining: Math.floor(decision.remaining / k),
  };
}

/**
 * Answers for a Redis-backed limiter while Redis is away: the in-memory
 * insurance twin (same algorithm and settings, local to this instance), a
 * pass, or a refusal, as the policy says. Each request asks Redis first
 * (unless the client is known to be disconnected), so the limiter returns
 * to Redis as soon as Redis answers again. With `outageInstances` n > 1 the
 * insurance charges each request n times its cost, so an instance admits
 * `limit / n` during the outage.
 */
export class StoreFallback {
  readonly #policy: RedisErrorPolicy;
  readonly #insurance: Limiter;
  readonly #pass: LimitDecision;
  readonly #deny: LimitDecision;
  readonly #divisor: () => number;

  constructor(policy: RedisErrorPolicy, insurance: Limiter, limit: number, instances?: () => number) {
    this.#policy = policy;
    this.#insurance = insurance;
    this.#divisor = outageDivisor(instances);
    this.#pass = Object.freeze(passDecision(limit));
    this.#deny = Object.freeze(unavailableDecision(limit));
  }

  consume(key: string, points: number): LimitDecision | Promise<LimitDecision> {
    if (this.#policy !== 'insurance') return this.#policy === 'allow' ? this.#pass : this.#deny;
    const k = this.#divisor();
    const decision = this.#insurance.consume(key, points * k);
    return decision instanceof Promise ? decision.then((d) => unscale(d, k)) : unscale(decision, k);
  }

  refund(key: string, points: number): void | Promise<void> {
    if (this.#policy === 'insurance') return this.#insurance.refund?.(key, points * this.#divisor());
  }
}

/** True when the client can take a command now; otherwise go straight to the fallback. */
export function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}
