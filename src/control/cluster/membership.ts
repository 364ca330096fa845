import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Events } from '../../core/events.js';
import type { SharedRedis } from '../../core/redis.js';

/** A backend as shared between instances: what another instance needs to make it. */
export interface SharedBackend {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  /** Absent: unlimited. */
  readonly maxConnections?: number | undefined;
}

/** One membership change on the channel (and, without `origin`/`op`, one entry of the hash). */
interface Message {
  readonly version: number;
  readonly origin: string;
  readonly op: 'add' | 'update' | 'remove';
  readonly id: string;
  readonly backend?: Omit<SharedBackend, 'id'> & { readonly pending?: boolean };
}

/** What the balancer lets shared membership do: its own add/update/remove paths, never re-published. */
export interface MembershipHost {
  /** Shareable backends this instance has (no custom `createConnection`, not draining). */
  shared(): SharedBackend[];
  /** Whether a backend with this id exists here and is local-only (custom transport): never touched remotely. */
  localOnly(id: string): boolean;
  add(backend: SharedBackend, pending: boolean): void;
  update(backend: SharedBackend): void;
  /** Drains and removes (with the balancer's `drainTimeout`). */
  remove(id: string): void;
}

/** Settings of {@link SharedMembership}. */
export interface MembershipSettings {
  readonly redis: SharedRedis;
  /** Pub/sub channel. @default `<keyPrefix>membership` */
  readonly channel?: string | undefined;
  readonly host: MembershipHost;
  readonly events: Events;
}

// Version, hash entry and message in one step: the channel carries changes in version order.
const WRITE = `
local v = redis.call('INCR', KEYS[2])
if ARGV[2] == 'remove' then
  redis.call('HDEL', KEYS[1], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[3], '{"version":' .. v .. ',' .. string.sub(ARGV[4], 2))
end
redis.call('PUBLISH', ARGV[1], '{"version":' .. v .. ',' .. string.sub(ARGV[5], 2))
return v
`;

// The first instance seeds the shared set with its configured backends; later ones load it.
const SEED = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  local v = redis.call('INCR', KEYS[2])
  for i = 1, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], '{"version":' .. v .. ',' .. string.sub(ARGV[i + 1], 2))
  end
end
return {redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1])}
`;

type Op = { op: Message['op']; backend: SharedBackend; pending: boolean };

function entryOf(backend: SharedBackend, pending = false): Omit<SharedBackend, 'id'> & { pending?: boolean } {
  return {
    url: backend.url,
    weight: backend.weight,
    ...(backend.maxConnections === undefined ? {} : { maxConnections: backend.maxConnections }),
    ...(pending ? { pending } : {}),
  };
}

/**
 * Backend membership shared by every balancer instance on one Redis and key
 * prefix. Each local change is written to the hash `<keyPrefix>members`
 * (id → `{ url, weight, maxConnections, version }`) and published on the
 * channel with a version from `<keyPrefix>members:version`, in one Lua
 * script. Other instances apply it through the balancer's own paths; their
 * own echoes and versions older than what they know of an id are ignored.
 * Once the shared set exists it wins over an instance's configured backends.
 *
 * @example
 * ```ts
 * const membership = new SharedMembership({ redis, host, events });
 * membership.start();
 * membership.changed('add', { id: 'a', url: 'http://10.0.0.1', weight: 1 });
 * ```
 */
export class SharedMembership {
  /** This instance, so it can ignore its own messages. */
  readonly origin = randomUUID();
  readonly #redis: SharedRedis;
  readonly #channel: string;
  readonly #membersKey: string;
  readonly #versionKey: string;
  readonly #host: MembershipHost;
  readonly #events: Events;
  #subscriber: Redis | Cluster | undefined;
  /** Newest version applied (or written) per id; removed ids keep theirs, so a stale add stays ignored. */
  readonly #known = new Map<string, number>();
  /** Local writes not yet acknowledged, per id: remote messages for that id wait for the reply. */
  readonly #writing = new Map<string, number>();
  readonly #deferred = new Map<string, Message[]>();
  /** Last local change per id that Redis did not take (it was away): sent on the next sync. */
  readonly #unsent = new Map<string, Op>();
  #chain: Promise<unknown> = Promise.resolve();
  #synced = false;
  #closed = false;
  #offReady: () => void = () => {};

  constructor(settings: MembershipSettings) {
    this.#redis = settings.redis;
    this.#channel = settings.channel ?? `${settings.redis.keyPrefix}membership`;
    this.#membersKey = `${settings.redis.keyPrefix}members`;
    this.#versionKey = `${settings.redis.keyPrefix}members:version`;
    this.#host = settings.host;
    this.#events = settings.events;
  }

  /** Subscribes (on a connection of its own) and loads the shared set whenever Redis becomes ready. */
  start(): void {
    const client = this.#redis.client;
    const subscriber = client.isCluster
      ? (client as Cluster).duplicate(undefined, { lazyConnect: false })
      : (client as Redis).duplicate({ lazyConnect: false });
    this.#subscriber = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.#channel) this.#receive(text);
    });
    const sync = () => {
      this.#enqueue(() => this.#sync());
    };
    subscriber.on('ready', sync);
    client.on('ready', sync);
    this.#offReady = () => client.off('ready', sync);
  }

  /** A local change: written and published (after the first sync), or kept until Redis is back. */
  changed(op: Message['op'], backend: SharedBackend, pending = false): void {
    if (this.#closed) return;
    this.#writing.set(backend.id, (this.#writing.get(backend.id) ?? 0) + 1);
    this.#enqueue(() => this.#write({ op, backend, pending }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#offReady();
    const subscriber = this.#subscriber;
    if (!subscriber || subscriber.status === 'end') return;
    // Between reconnect attempts there is no socket: disconnect() only cancels the next attempt, and no 'end' follows.
    const socketless = subscriber.status === 'reconnecting' || subscriber.status === 'close';
    const ended = new Promise<void>((resolve) => subscriber.once('end', () => resolve()));
    subscriber.disconnect();
    if (!socketless) await ended;
  }

  #enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.#events.emit('redis', { state: 'error', message: `membership: ${(error as Error).message}` });
    });
  }

  async #write(change: Op): Promise<void> {
    const { id } = change.backend;
    let version: number | undefined;
    try {
      // Before the first sync the shared set may not exist yet: writing would keep it from being seeded.
      if (!this.#synced) {
        this.#unsent.set(id, change);
        return;
      }
      version = await this.#send(change);
      this.#unsent.delete(id);
    } catch (error) {
      this.#unsent.set(id, change);
      throw error;
    } finally {
      this.#settle(id, version);
    }
  }

  async #send({ op, backend, pending }: Op): Promise<number> {
    const entry = JSON.stringify(entryOf(backend));
    const message: Omit<Message, 'version'> = {
      origin: this.origin,
      op,
      id: backend.id,
      ...(op === 'remove' ? {} : { backend: entryOf(backend, pending) }),
    };
    const reply = await this.#redis.client.eval(
      WRITE,
      2,
      this.#membersKey,
      this.#versionKey,
      this.#channel,
      op,
      backend.id,
      entry,
      JSON.stringify(message),
    );
    return Number(reply);
  }

  /** A local write finished: remote changes to the id that came meanwhile apply if newer. */
  #settle(id: string, version: number | undefined): void {
    const left = (this.#writing.get(id) ?? 1) - 1;
    if (left > 0) this.#writing.set(id, left);
    else this.#writing.delete(id);
    if (version !== undefined) this.#known.set(id, Math.max(this.#known.get(id) ?? 0, version));
    if (left > 0) return;
    const waiting = this.#deferred.get(id);
    this.#deferred.delete(id);
    for (const message of waiting?.sort((a, b) => a.version - b.version) ?? []) this.#apply(message);
  }

  #receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (this.#closed || message.origin === this.origin || typeof message.id !== 'string') return;
    if (this.#writing.has(message.id)) {
      const list = this.#deferred.get(message.id) ?? [];
      list.push(message);
      this.#deferred.set(message.id, list);
      return;
    }
    this.#apply(message);
  }

  /** Applies a change newer than what this instance knows of the id, through the balancer's own paths. */
  #apply(message: Message): void {
    const { id, version } = message;
    if (!(version > (this.#known.get(id) ?? 0)) || this.#closed) return;
    this.#known.set(id, version);
    if (this.#host.localOnly(id)) return;
    const current = this.#host.shared().find((b) => b.id === id);
    try {
      if (message.op === 'remove' || !message.backend) {
        if (current) this.#host.remove(id);
        return;
      }
      const wanted: SharedBackend = { id, ...message.backend };
      if (!current) this.#host.add(wanted, message.backend.pending === true);
      else if (current.url !== wanted.url) {
        this.#host.remove(id);
        this.#host.add(wanted, message.backend.pending === true);
      } else if (current.weight !== wanted.weight || current.maxConnections !== wanted.maxConnections) {
        this.#host.update(wanted);
      }
    } catch (error) {
      this.#events.emit('redis', { state: 'error', message: `membership: ${(error as Error).message}` });
    }
  }

  /** Sends changes Redis missed, then loads the shared set (seeding it when it does not exist yet). */
  async #sync(): Promise<void> {
    // Runs on either connection's 'ready': the later of the two does the work.
    if (this.#closed || this.#subscriber?.status !== 'ready' || this.#redis.client.status !== 'ready') return;
    await this.#subscriber.subscribe(this.#channel);
    const seed: string[] = [];
    for (const backend of this.#host.shared()) seed.push(backend.id, JSON.stringify(entryOf(backend)));
    const [versionText, flat] = (await this.#redis.client.eval(
      SEED,
      2,
      this.#membersKey,
      this.#versionKey,
      ...seed,
    )) as [string, string[]];
    this.#synced = true;
    for (const change of [...this.#unsent.values()]) {
      const version = await this.#send(change);
      this.#unsent.delete(change.backend.id);
      this.#known.set(change.backend.id, Math.max(this.#known.get(change.backend.id) ?? 0, version));
    }
    const snapshotVersion = Number(versionText);
    const members = new Map<string, Message>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        const entry = JSON.parse(flat[i + 1] as string) as SharedBackend & { version: number };
        const { version, ...backend } = entry;
        members.set(flat[i] as string, { version, origin: '', op: 'add', id: flat[i] as string, backend });
      } catch {
        // A foreign or damaged entry is skipped, not fatal.
      }
    }
    for (const message of members.values()) {
      if (!this.#writing.has(message.id)) this.#apply(message);
    }
    // The shared set wins: what is here but no longer there leaves, unless this instance changed it since.
    for (const backend of this.#host.shared()) {
      const id = backend.id;
      if (members.has(id) || this.#writing.has(id) || this.#unsent.has(id)) continue;
      if ((this.#known.get(id) ?? 0) >= snapshotVersion) continue;
      this.#known.set(id, snapshotVersion);
      this.#host.remove(id);
    }
  }
}
