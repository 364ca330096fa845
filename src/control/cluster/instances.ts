import type { SharedRedis } from '../../core/redis.js';

/** Settings of {@link InstanceRegistry}. */
export interface InstanceRegistrySettings {
  readonly redis: SharedRedis;
  /** This instance's id (the membership origin). */
  readonly id: string;
  /** Refresh period, ms; an entry older than 3 periods counts as gone. */
  readonly heartbeat: number;
  /** Wall clock shared (roughly) by every host, ms. @default Date.now */
  readonly now?: (() => number) | undefined;
  /** Called after each refresh that changed the live set. */
  readonly onChange?: ((live: readonly string[]) => void) | undefined;
}

// Refresh this entry, forget silent ones, list the rest: one key, one round trip.
const BEAT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/**
 * The live balancer instances on one Redis and key prefix: each refreshes its
 * entry in the sorted set `<keyPrefix>instances` (score: its wall clock)
 * every `heartbeat`, and counts as gone after 3 silent heartbeats. While
 * Redis is away the last list stays (an outage does not make the others
 * vanish), which is what the rate limiter's `outageInstances: 'live'` and the
 * health quorum need.
 *
 * @example
 * ```ts
 * import { InstanceRegistry } from './instances.js';
 * declare const origin: string; // this instance's id
 * const registry = new InstanceRegistry({ redis, id: origin, heartbeat: 2000 });
 * registry.start();
 * registry.count(); // 3
 * ```
 */
export class InstanceRegistry {
  readonly #settings: InstanceRegistrySettings;
  readonly #key: string;
  #live: readonly string[];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #offReady: () => void = () => {};

  constructor(settings: InstanceRegistrySettings) {
    this.#settings = settings;
    this.#key = `${settings.redis.keyPrefix}instances`;
    this.#live = [settings.id];
  }

  /** Instances alive at the last refresh, this one included (at least 1). */
  count(): number {
    return Math.max(1, this.#live.length);
  }

  /** Ids alive at the last refresh, this one included. */
  live(): readonly string[] {
    return this.#live;
  }

  /** Refreshes now and every `heartbeat`. */
  start(): void {
    const onReady = () => void this.beat();
    this.#settings.redis.client.on('ready', onReady);
    this.#offReady = () => this.#settings.redis.client.off('ready', onReady);
    void this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#settings.heartbeat);
    this.#timer.unref();
  }

  /** One refresh; a failure keeps the last list. */
  async beat(): Promise<void> {
    const { redis, id, heartbeat } = this.#settings;
    if (this.#closed || redis.client.status !== 'ready') return;
    const now = (this.#settings.now ?? Date.now)();
    try {
      const live = (await redis.client.eval(
        BEAT,
        1,
        this.#key,
        String(now),
        id,
        String(now - 3 * heartbeat),
        String(10 * heartbeat),
      )) as string[];
      if (this.#closed) return;
      const changed = live.length !== this.#live.length || live.some((x, i) => x !== this.#live[i]);
      this.#live = live.includes(id) ? live : [...live, id];
      if (changed) this.#settings.onChange?.(this.#live);
    } catch {
      // Redis is away: the last list stands.
    }
  }

  /** Stops refreshing and removes this instance's entry (best effort). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#offReady();
    const { redis, id } = this.#settings;
    if (redis.client.status !== 'ready') return;
    try {
      await redis.client.zrem(this.#key, id);
    } catch {
      // Gone after 3 heartbeats anyway.
    }
  }
}
