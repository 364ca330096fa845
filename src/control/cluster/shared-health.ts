import type { Cluster, Redis } from 'ioredis';
import type { Backend } from '../../core/backend.js';
import type { EventName, Events } from '../../core/events.js';
import { closeSubscriber, parseJson, type SharedRedis, subscribeTo } from '../../core/redis.js';
import type { InstanceRegistry } from './instances.js';

/** Settings of {@link SharedHealth}. */
export interface SharedHealthSettings {
  readonly redis: SharedRedis;
  /** This instance's id (the registry's). */
  readonly origin: string;
  /** Live instances that must see a backend down: a count, or `'majority'` of the live ones. */
  readonly quorum: number | 'majority';
  readonly registry: InstanceRegistry;
  readonly events: Events;
  /** The balancer's clock (ejection times), ms. */
  readonly now: () => number;
  /** The pool's backends, by id. */
  get(id: string): Backend | undefined;
  all(): readonly Backend[];
  /** Marks (or unmarks) a backend down cluster-wide, through the pool (which refreshes its views). */
  markDown(backend: Backend, down: boolean): void;
}

interface Vote {
  readonly origin: string;
  readonly backend: string;
  readonly down: boolean;
}

/** Events after which this instance's own view of a backend may have changed. */
const LOCAL: readonly EventName[] = [
  'backend:unhealthy',
  'backend:healthy',
  'backend:ejected',
  'backend:restored',
  'breaker:open',
  'breaker:close',
  'backend:added',
];

// One vote: set or cleared in the hash, and told to everyone.
const VOTE = `
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], ARGV[2], '1') else redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('PUBLISH', ARGV[1], ARGV[4])
return 1
`;

/**
 * The cluster's health view: each instance publishes when its own evidence
 * (active checks, outlier ejection, an open breaker) says a backend is down
 * or up again, to the hash `<keyPrefix>health` (field `<backend> <instance>`)
 * and the channel of the same name. A backend that at least `quorum` live
 * instances (the registry's) see down is marked down on every instance
 * (`clusterDown`, shown as `unhealthy`, event `cluster:health`), so an
 * instance whose own checks have not failed yet stops using it too. Each
 * instance still reacts to its own evidence at once; the mark only adds to
 * it, and it never counts as this instance's own vote. An instance that
 * starts late loads the hash. Votes of instances that left the registry no
 * longer count.
 *
 * @example
 * ```ts
 * import { SharedHealth } from './shared-health.js';
 * declare const { redis, origin, registry, events, now, get, all, markDown }: import('./shared-health.js').SharedHealthSettings;
 * const health = new SharedHealth({ redis, origin, quorum: 'majority', registry, events, now, get, all, markDown });
 * health.open();
 * ```
 */
export class SharedHealth {
  readonly #settings: SharedHealthSettings;
  readonly #key: string;
  /** Backend id → instances that see it down. */
  readonly #votes = new Map<string, Set<string>>();
  /** What this instance last published per backend. */
  readonly #mine = new Map<string, boolean>();
  /**
   * Backends that joined pending (a rollout's, before their first passed
   * checks): not yet seen working here, so not seen down either. Voting them
   * down would let instances whose checks have not passed yet take a healthy
   * new backend out where they have.
   */
  readonly #pending = new Set<string>();
  #subscriber: Redis | Cluster | undefined;
  readonly #offs: (() => void)[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(settings: SharedHealthSettings) {
    this.#settings = settings;
    this.#key = `${settings.redis.keyPrefix}health`;
  }

  /** Votes needed now for a cluster-wide down. */
  need(): number {
    const { quorum, registry } = this.#settings;
    return quorum === 'majority' ? Math.floor(registry.count() / 2) + 1 : quorum;
  }

  /** Subscribes, loads the votes whenever Redis is ready, and follows this instance's own health events. */
  open(): void {
    const { events, redis } = this.#settings;
    this.#subscriber = subscribeTo(
      redis.client,
      this.#key,
      (text) => this.#receive(text),
      () => this.#enqueue(() => this.#load()),
    );
    const added = (payload: { backend: { id: string; status: string } }) => {
      if (payload.backend.status === 'unhealthy') this.#pending.add(payload.backend.id);
    };
    // Registered before the votes: the pending mark is set before the vote on the same event is considered.
    this.#offs.push(() => events.off('backend:added', added));
    events.on('backend:added', added);
    for (const name of LOCAL) {
      const listener = (payload: { backend: { id: string } | string }) => {
        const id = typeof payload.backend === 'string' ? payload.backend : payload.backend.id;
        this.#local(id);
      };
      events.on(name, listener as never);
      this.#offs.push(() => events.off(name, listener as never));
    }
    const removed = (payload: { backend: { id: string } }) => this.#forget(payload.backend.id);
    events.on('backend:removed', removed);
    this.#offs.push(() => events.off('backend:removed', removed));
  }

  /** The registry's live set changed: votes of instances that left stop counting. */
  membersChanged(): void {
    for (const backend of this.#settings.all()) this.#evaluate(backend.id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const off of this.#offs.splice(0)) off();
    await closeSubscriber(this.#subscriber);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.#settings.events.emit('redis', { state: 'error', message: `health: ${(error as Error).message}` });
    });
  }

  /** This instance's own evidence about a backend: published when it changed. */
  #local(id: string): void {
    const { get, now, origin } = this.#settings;
    const backend = get(id);
    if (!backend || this.#closed) return;
    if (backend.unhealthy && this.#pending.has(id)) return;
    this.#pending.delete(id);
    const down = backend.unhealthy || backend.breakerOpen || backend.ejectedUntil > now();
    if ((this.#mine.get(id) ?? false) === down) return;
    this.#mine.set(id, down);
    this.#count({ origin, backend: id, down });
    this.#enqueue(() => this.#publish({ origin, backend: id, down }));
  }

  async #publish(vote: Vote): Promise<void> {
    const { redis } = this.#settings;
    if (this.#closed || redis.client.status !== 'ready') return;
    await redis.client.eval(
      VOTE,
      1,
      this.#key,
      this.#key,
      `${vote.backend} ${vote.origin}`,
      vote.down ? '1' : '0',
      JSON.stringify(vote),
    );
  }

  async #load(): Promise<void> {
    const { redis, origin } = this.#settings;
    if (this.#closed || redis.client.status !== 'ready') return;
    const flat = await redis.client.hgetall(this.#key);
    const seen = new Map<string, Set<string>>();
    for (const field of Object.keys(flat)) {
      const space = field.lastIndexOf(' ');
      if (space <= 0) continue;
      const backend = field.slice(0, space);
      const voter = field.slice(space + 1);
      if (voter === origin) continue;
      const set = seen.get(backend) ?? new Set<string>();
      set.add(voter);
      seen.set(backend, set);
    }
    const ids = new Set([...this.#votes.keys(), ...seen.keys()]);
    for (const id of ids) {
      const set = seen.get(id) ?? new Set<string>();
      if (this.#mine.get(id) === true) set.add(origin);
      this.#votes.set(id, set);
      this.#evaluate(id);
    }
    // Votes Redis lost (restart, flush) are sent again.
    for (const [id, down] of this.#mine) if (down) await this.#publish({ origin, backend: id, down });
  }

  #receive(text: string): void {
    const vote = parseJson<Vote>(text);
    if (this.#closed || typeof vote?.backend !== 'string' || typeof vote.origin !== 'string') return;
    if (vote.origin === this.#settings.origin) return;
    this.#count(vote);
  }

  #count(vote: Vote): void {
    const set = this.#votes.get(vote.backend) ?? new Set<string>();
    if (vote.down) set.add(vote.origin);
    else set.delete(vote.origin);
    this.#votes.set(vote.backend, set);
    this.#evaluate(vote.backend);
  }

  #forget(id: string): void {
    this.#mine.delete(id);
    this.#pending.delete(id);
  }

  /** Marks or unmarks a backend cluster-down from the live votes. */
  #evaluate(id: string): void {
    const { get, registry, events, markDown } = this.#settings;
    const backend = get(id);
    if (!backend) return;
    const live = new Set(registry.live());
    let votes = 0;
    for (const voter of this.#votes.get(id) ?? []) if (live.has(voter)) votes++;
    const quorum = this.need();
    const down = votes >= quorum;
    if (backend.clusterDown === down) return;
    markDown(backend, down);
    events.emit('cluster:health', { backend: id, down, votes, quorum });
  }
}
