import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Events } from '../../core/events.js';
import { closeSubscriber, parseJson, type SharedRedis, subscriberOf } from '../../core/redis.js';

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
  /**
   * Epoch of the shared set the change belongs to: a fresh id each time the
   * set is created (or re-created after Redis lost it), so versions of a lost
   * set are never compared with those of the new one.
   */
  readonly epoch?: string;
  readonly version: number;
  readonly origin: string;
  /** `epoch`: the set was (re)created; every instance reloads it. */
  readonly op: 'add' | 'update' | 'remove' | 'epoch';
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
  /**
   * How often the epoch and version counter are read back, in ms, to notice a
   * shared set that was lost while no change was being made (FLUSHALL, a
   * restart the connections rode out, failover to a lagging replica); 0:
   * never (a lost set is then noticed on the next change or reconnect).
   * @default 5000
   */
  readonly checkInterval?: number | undefined;
}

// Version, hash entry and message in one step: the channel carries changes in version order.
// Refused when the set is not the one the writer loaded (lost, re-created, or rolled back to an
// older version by a failover): a version from it would be compared with versions of another set.
const WRITE = `
local epoch = redis.call('GET', KEYS[3])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if epoch ~= ARGV[6] or current < tonumber(ARGV[7]) then
  return {'reset', epoch or ''}
end
local v = redis.call('INCR', KEYS[2])
if ARGV[2] == 'remove' then
  redis.call('HDEL', KEYS[1], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[3], '{"version":' .. v .. ',' .. string.sub(ARGV[4], 2))
end
redis.call('PUBLISH', ARGV[1], '{"epoch":"' .. ARGV[6] .. '","version":' .. v .. ',' .. string.sub(ARGV[5], 2))
return {'ok', tostring(v)}
`;

// The first instance (or the first to notice the set was lost) seeds the shared set with its
// own backends under a new epoch and says so on the channel; every other one loads what is there.
// A set whose counter went back below what this instance saw (failover to a lagging replica)
// keeps its entries but gets a new epoch, so every instance reloads it instead of ignoring it.
// Atomic: of two instances seeding at once, one seeds and the other loads its set.
// ARGV: channel, new epoch, origin, epoch known here (or ''), highest version seen here, then id/entry pairs.
const SEED = `
local epoch = redis.call('GET', KEYS[3])
if epoch == false or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], ARGV[2])
  local v = redis.call('INCR', KEYS[2])
  for i = 6, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], '{"version":' .. v .. ',' .. string.sub(ARGV[i + 1], 2))
  end
  redis.call('PUBLISH', ARGV[1], '{"epoch":"' .. ARGV[2] .. '","version":' .. v .. ',"origin":"' .. ARGV[3] .. '","op":"epoch","id":""}')
elseif epoch == ARGV[4] and tonumber(redis.call('GET', KEYS[2])) < tonumber(ARGV[5]) then
  redis.call('SET', KEYS[3], ARGV[2])
  local v = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[1], '{"epoch":"' .. ARGV[2] .. '","version":' .. v .. ',"origin":"' .. ARGV[3] .. '","op":"epoch","id":""}')
end
return {redis.call('GET', KEYS[3]), redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1])}
`;

// Cheap check: the epoch and the counter, compared here with what this instance knows.
const CHECK = `return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0'}`;

type Change = 'add' | 'update' | 'remove';
type Op = { op: Change; backend: SharedBackend; pending: boolean };

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
 * Versions are only compared within one epoch (`<keyPrefix>members:epoch`, a
 * fresh id each time the set is created). When Redis loses the set (restart
 * without persistence, FLUSHALL, failover to a lagging replica), the first
 * instance to notice (on reconnect, on its next change, or within
 * `checkInterval`) re-creates it from its own backends under a new epoch
 * and announces it; the others reload it, forget the versions of the lost
 * set, and send the changes Redis did not take. Conflicts therefore resolve
 * the same way everywhere: the re-created set, then changes in the order
 * Redis numbered them.
 *
 * @example
 * ```ts
 * import { SharedMembership } from './membership.js';
 * declare const { redis, host, events }: import('./membership.js').MembershipSettings;
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
  readonly #epochKey: string;
  readonly #host: MembershipHost;
  readonly #events: Events;
  readonly #checkInterval: number;
  #subscriber: Redis | Cluster | undefined;
  /** Epoch of the set loaded last; versions below belong to it. */
  #epoch: string | undefined;
  /** Highest version seen in `#epoch`: a counter below it means the set went back in time. */
  #highest = 0;
  /** Newest version applied (or written) per id; removed ids keep theirs, so a stale add stays ignored. */
  readonly #known = new Map<string, number>();
  /** Local writes not yet acknowledged, per id: remote messages for that id wait for the reply. */
  readonly #writing = new Map<string, number>();
  readonly #deferred = new Map<string, Message[]>();
  /** Last local change per id that Redis did not take (it was away): sent on the next sync. */
  readonly #unsent = new Map<string, Op>();
  /**
   * Messages of an epoch other than the one loaded, kept until the next load:
   * one published between a load's script and its reply belongs to the set
   * being loaded, but its change is not in the snapshot.
   */
  #early: Message[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #synced = false;
  #resyncQueued = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #offReady: () => void = () => {};

  constructor(settings: MembershipSettings) {
    this.#redis = settings.redis;
    this.#channel = settings.channel ?? `${settings.redis.keyPrefix}membership`;
    this.#membersKey = `${settings.redis.keyPrefix}members`;
    this.#versionKey = `${settings.redis.keyPrefix}members:version`;
    this.#epochKey = `${settings.redis.keyPrefix}members:epoch`;
    this.#host = settings.host;
    this.#events = settings.events;
    this.#checkInterval = settings.checkInterval ?? 5000;
  }

  /** Epoch of the shared set this instance loaded last (`undefined` before the first sync). */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** Subscribes (on a connection of its own) and loads the shared set whenever Redis becomes ready. */
  start(): void {
    const client = this.#redis.client;
    const subscriber = subscriberOf(client);
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.#channel) this.#receive(text);
    });
    const sync = () => {
      this.#enqueue(() => this.#sync());
    };
    subscriber.on('ready', sync);
    client.on('ready', sync);
    this.#offReady = () => client.off('ready', sync);
    if (this.#checkInterval > 0) {
      this.#timer = setInterval(() => {
        if (this.#synced && !this.#resyncQueued) this.#enqueue(() => this.#check());
      }, this.#checkInterval);
      this.#timer.unref();
    }
  }

  /** A local change: written and published (after the first sync), or kept until Redis is back. */
  changed(op: Change, backend: SharedBackend, pending = false): void {
    if (this.#closed) return;
    this.#writing.set(backend.id, (this.#writing.get(backend.id) ?? 0) + 1);
    this.#enqueue(() => this.#write({ op, backend, pending }));
  }

  /** Resolves once every change and sync queued so far has been tried (tests, orderly shutdown). */
  async settled(): Promise<void> {
    await this.#chain;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#offReady();
    await closeSubscriber(this.#subscriber);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.#events.emit('redis', { state: 'error', message: `membership: ${(error as Error).message}` });
    });
  }

  /** Queues one reload of the shared set (at most one waits at a time). */
  #resync(): void {
    if (this.#resyncQueued || this.#closed) return;
    this.#resyncQueued = true;
    this.#enqueue(() => this.#sync());
  }

  async #check(): Promise<void> {
    if (this.#closed || this.#redis.client.status !== 'ready') return;
    const [epoch, version] = (await this.#redis.client.eval(CHECK, 2, this.#epochKey, this.#versionKey)) as [
      string,
      string,
    ];
    if (epoch !== this.#epoch || Number(version) < this.#highest) this.#resync();
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
      if (version === undefined) {
        // The set is not the one loaded: reload (or re-create) it, which sends this change too.
        this.#unsent.set(id, change);
        this.#synced = false;
        await this.#sync();
        return;
      }
      this.#unsent.delete(id);
    } catch (error) {
      this.#unsent.set(id, change);
      throw error;
    } finally {
      this.#settle(id, version);
    }
  }

  /** Writes one change; `undefined` when Redis holds another epoch (or an older counter) than the one loaded. */
  async #send({ op, backend, pending }: Op): Promise<number | undefined> {
    const entry = JSON.stringify(entryOf(backend));
    const message: Omit<Message, 'version' | 'epoch'> = {
      origin: this.origin,
      op,
      id: backend.id,
      ...(op === 'remove' ? {} : { backend: entryOf(backend, pending) }),
    };
    const [state, value] = (await this.#redis.client.eval(
      WRITE,
      3,
      this.#membersKey,
      this.#versionKey,
      this.#epochKey,
      this.#channel,
      op,
      backend.id,
      entry,
      JSON.stringify(message),
      this.#epoch ?? '',
      String(this.#highest),
    )) as [string, string];
    if (state !== 'ok') return undefined;
    const version = Number(value);
    this.#highest = Math.max(this.#highest, version);
    return version;
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
    for (const message of waiting?.sort((a, b) => a.version - b.version) ?? []) {
      if (message.epoch === this.#epoch) this.#apply(message);
    }
  }

  #receive(text: string): void {
    const message = parseJson<Message>(text);
    if (message === undefined) return;
    // Without an epoch the message is not one of ours (or from a version that predates them): ignored.
    if (this.#closed || typeof message.epoch !== 'string' || typeof message.version !== 'number') return;
    if (message.epoch !== this.#epoch) {
      // Another set than the one loaded (or none loaded yet): reload it, then replay what came meanwhile.
      if (this.#early.length < 10_000) this.#early.push(message);
      if (this.#synced) this.#resync();
      return;
    }
    this.#handle(message);
  }

  /** A message of the loaded epoch. */
  #handle(message: Message): void {
    this.#highest = Math.max(this.#highest, message.version);
    if (message.origin === this.origin || message.op === 'epoch' || typeof message.id !== 'string') return;
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

  /**
   * Loads the shared set (seeding or re-creating it when Redis has none),
   * then sends the changes Redis missed and applies what others changed.
   */
  async #sync(): Promise<void> {
    this.#resyncQueued = false;
    // Runs on either connection's 'ready': the later of the two does the work.
    if (this.#closed || this.#subscriber?.status !== 'ready' || this.#redis.client.status !== 'ready') return;
    await this.#subscriber.subscribe(this.#channel);
    const args: string[] = [this.#channel, randomUUID(), this.origin, this.#epoch ?? '', String(this.#highest)];
    for (const backend of this.#host.shared()) args.push(backend.id, JSON.stringify(entryOf(backend)));
    const [epoch, versionText, flat] = (await this.#redis.client.eval(
      SEED,
      3,
      this.#membersKey,
      this.#versionKey,
      this.#epochKey,
      ...args,
    )) as [string, string, string[]];
    const snapshotVersion = Number(versionText);
    if (epoch !== this.#epoch) {
      // Another set: what this instance knew of the old one's versions means nothing in it.
      if (this.#epoch !== undefined) this.#events.emit('cluster:resync', { epoch, seeded: epoch === args[1] });
      this.#epoch = epoch;
      this.#known.clear();
      for (const list of this.#deferred.values()) list.length = 0;
      this.#highest = 0;
    }
    this.#highest = Math.max(this.#highest, snapshotVersion);
    this.#synced = true;
    for (const change of [...this.#unsent.values()]) {
      const version = await this.#send(change);
      if (version === undefined) {
        // Lost again meanwhile: start over (the changes are still unsent).
        this.#synced = false;
        this.#resync();
        return;
      }
      this.#unsent.delete(change.backend.id);
      this.#known.set(change.backend.id, Math.max(this.#known.get(change.backend.id) ?? 0, version));
    }
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
    // Changes published while the snapshot was on its way: newer versions than it apply now.
    const early = this.#early;
    this.#early = [];
    for (const message of early) if (message.epoch === epoch) this.#handle(message);
  }
}
