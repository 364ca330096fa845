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
}

/**
 * Answers for a Redis-backed limiter while Redis is away: the in-memory
 * insurance twin (same algorithm and settings, local to this instance), a
 * pass, or a refusal, as the policy says. Each request asks Redis first
 * (unless the client is known to be disconnected), so the limiter returns
 * to Redis as soon as Redis answers again.
 */
export class StoreFallback {
  readonly #policy: RedisErrorPolicy;
  readonly #insurance: Limiter;
  readonly #pass: LimitDecision;
  readonly #deny: LimitDecision;

  constructor(policy: RedisErrorPolicy, insurance: Limiter, limit: number) {
    this.#policy = policy;
    this.#insurance = insurance;
    this.#pass = Object.freeze(passDecision(limit));
    this.#deny = Object.freeze(unavailableDecision(limit));
  }

  consume(key: string, points: number): LimitDecision | Promise<LimitDecision> {
    if (this.#policy === 'insurance') return this.#insurance.consume(key, points);
    return this.#policy === 'allow' ? this.#pass : this.#deny;
  }

  refund(key: string, points: number): void | Promise<void> {
    if (this.#policy === 'insurance') return this.#insurance.refund?.(key, points);
  }
}

/** True when the client can take a command now; otherwise go straight to the fallback. */
export function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}
