import type { Cluster, Redis } from 'ioredis';
import { makeError } from '../../core/errors.js';
import type { Events } from '../../core/events.js';
import { closeSubscriber, parseJson, type SharedRedis, subscribeTo } from '../../core/redis.js';
import type { BackendOptions } from '../../upstream/pool/options.js';
import type { RolloutControl } from '../control-plane.js';
import type { RolloutOptions } from '../rollout/options.js';
import type { KeptBackend } from '../rollout/plan.js';
import { readdPrevious, removeAdded } from '../rollout/restore.js';
import type {
  RollbackResult,
  RolloutHost,
  RolloutManager,
  RolloutResult,
  RolloutStatus,
  RolloutView,
} from '../rollout/rollout.js';

/** A backend of the set a rollout replaced, as another instance can re-create it. */
type SharedOptions = { id: string; url: string; weight?: number; maxConnections?: number };

/** The rollout as every instance sees it: `<keyPrefix>rollout`. */
interface SharedRecord {
  readonly id: string;
  /** Instance driving (or last driving) it. */
  readonly driver: string;
  readonly status: RolloutStatus;
  readonly previous: readonly SharedOptions[];
  readonly added: readonly string[];
  /** Every backend the plan adds: undoing removes those present, recorded as added or not. */
  readonly planned: readonly string[];
  readonly keep: readonly KeptBackend[];
  readonly keptApplied: boolean;
}

type Message =
  | { readonly type: 'record'; readonly record: SharedRecord }
  | { readonly type: 'cancel'; readonly id: string; readonly reason: string };

/** Settings of {@link SharedRollouts}. */
export interface SharedRolloutsSettings {
  readonly redis: SharedRedis;
  /** This instance's id (the membership origin). */
  readonly origin: string;
  /** Lease lifetime, ms; renewed every third of it. */
  readonly leaseTtl: number;
  readonly manager: RolloutManager;
  /** The balancer's rollout host: a takeover restores the previous set through it (and so through shared membership). */
  readonly host: RolloutHost;
  readonly events: Events;
}

// Writes the record and tells everyone, unless another instance holds the lease; a final record
// (ARGV[4] == '1') releases the lease in the same step, so whoever reads it may take the lease at once.
const WRITE = `
local lease = redis.call('GET', KEYS[2])
if lease and lease ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', 604800000)
if ARGV[4] == '1' and lease then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[1], '{"type":"record","record":' .. ARGV[2] .. '}')
return 1
`;
// Renews (or takes, when free) the lease for this instance; 0 when another holds it.
const HOLD = `
local lease = redis.call('GET', KEYS[1])
if lease and lease ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

function shareable(previous: readonly (BackendOptions & { id: string })[]): SharedOptions[] {
  return previous.flatMap((p) =>
    p.createConnection === undefined
      ? [
          {
            id: p.id,
            url: p.url,
            ...(p.weight === undefined ? {} : { weight: p.weight }),
            ...(p.maxConnections === undefined || !Number.isFinite(p.maxConnections)
              ? {}
              : { maxConnections: p.maxConnections }),
          },
        ]
      : [],
  );
}

/**
 * Rollouts shared by every instance on one Redis and key prefix. The driving
 * instance (the one `lb.rollout()` was called on) holds the lease
 * `<keyPrefix>rollout:lease` (renewed every `leaseTtl / 3`) and publishes
 * the rollout's status, the set it replaced and what it added to
 * `<keyPrefix>rollout` on every change; every instance keeps the last record,
 * so `rolloutStatus()` is the same everywhere (an instance that starts late
 * loads it). `cancel` from another instance is sent to the driver;
 * `rollback()` from another instance restores the recorded set itself
 * (through shared membership, so everyone follows). When the driver dies
 * mid-rollout its lease expires, and the first instance to take the lease
 * rolls the rollout back: the recorded previous set is re-added, the new
 * backends drained and removed, weights of kept backends restored.
 * Rolling back rather than resuming: the survivor lacks the gate's window and
 * the driver may have died of the new set, so the known-good set is the safe
 * end.
 *
 * @example
 * ```ts
 * import { SharedRollouts } from './shared-rollouts.js';
 * declare const { redis, origin, manager, host, events }: import('./shared-rollouts.js').SharedRolloutsSettings;
 * const shared = new SharedRollouts({ redis, origin, leaseTtl: 6000, manager, host, events });
 * shared.open();
 * shared.status(); // the same on every instance
 * ```
 */
export class SharedRollouts implements RolloutControl {
  readonly #settings: SharedRolloutsSettings;
  readonly #recordKey: string;
  readonly #leaseKey: string;
  readonly #channel: string;
  #record: SharedRecord | undefined;
  #subscriber: Redis | Cluster | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Id of the rollout this instance drives now (holds the lease for). */
  #driving: string | undefined;
  /** A rollback of a recorded rollout run here (by request or takeover). */
  #restoring = false;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(settings: SharedRolloutsSettings) {
    this.#settings = settings;
    const prefix = settings.redis.keyPrefix;
    this.#recordKey = `${prefix}rollout`;
    this.#leaseKey = `${prefix}rollout:lease`;
    this.#channel = `${prefix}rollout`;
  }

  /** Subscribes, loads the current record whenever Redis is ready, and starts the lease timer. */
  open(): void {
    this.#subscriber = subscribeTo(
      this.#settings.redis.client,
      this.#channel,
      (text) => this.#receive(text),
      () => this.#enqueue(() => this.#load()),
    );
    this.#timer = setInterval(() => this.#enqueue(() => this.#tick()), Math.max(100, this.#settings.leaseTtl / 3));
    this.#timer.unref();
  }

  /** Resolves once every write queued so far has been tried. */
  async settled(): Promise<void> {
    await this.#chain;
  }

  /** The rollout manager's state changed (the driver, or a local rollback): published. */
  changed(view: RolloutView): void {
    if (this.#closed) return;
    const record: SharedRecord = {
      id: view.status.id,
      driver: this.#settings.origin,
      status: view.status,
      previous: shareable(view.previous),
      added: view.added,
      planned: view.planned,
      keep: view.keep,
      keptApplied: view.keptApplied,
    };
    this.#record = record;
    this.#enqueue(() => this.#write(record));
  }

  /**
   * Starts a rollout driven by this instance (see {@link RolloutManager.start});
   * throws `ERR_ROLLOUT_IN_PROGRESS` while another instance drives one.
   */
  start(input: RolloutOptions): { id: string; done: Promise<RolloutResult> } {
    this.#refuseWhileElsewhere();
    return this.#settings.manager.start(input);
  }

  /** The recorded rollout when it runs on another instance. */
  #remote(): SharedRecord | undefined {
    const record = this.#record;
    return record?.status.status === 'running' && record.driver !== this.#settings.origin ? record : undefined;
  }

  #refuseWhileElsewhere(): void {
    if (this.#restoring) throw makeError('ERR_ROLLOUT_IN_PROGRESS', 'a rollback is in progress');
    const remote = this.#remote();
    if (remote) {
      throw makeError(
        'ERR_ROLLOUT_IN_PROGRESS',
        `rollout ${remote.id} is in progress on another instance: wait for it or cancel it`,
      );
    }
  }

  status(): RolloutStatus | undefined {
    return this.#record?.status ?? this.#settings.manager.status();
  }

  cancel(reason = 'cancel() called'): boolean {
    if (this.#settings.manager.cancel(reason)) return true;
    const record = this.#remote();
    if (!record) return false;
    const message: Message = { type: 'cancel', id: record.id, reason };
    this.#settings.redis.client.publish(this.#channel, JSON.stringify(message)).catch(() => {});
    return true;
  }

  startRollback(): { id: string; done: Promise<RollbackResult> } {
    const { manager } = this.#settings;
    this.#refuseWhileElsewhere();
    const record = this.#record;
    const local = manager.view();
    if (!record || local?.status.id === record.id) return manager.startRollback();
    if (record.status.rolledBack) {
      throw makeError('ERR_NO_ROLLOUT', `rollout ${record.id} was already rolled back: there is nothing to roll back`);
    }
    return { id: record.id, done: this.#restore(record, 'rollback() called', false) };
  }

  /** Stops publishing and watching; a lease held stays until it expires, so a survivor rolls a running rollout back. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await closeSubscriber(this.#subscriber);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.#settings.events.emit('redis', { state: 'error', message: `rollouts: ${(error as Error).message}` });
    });
  }

  #ready(): boolean {
    return !this.#closed && this.#settings.redis.client.status === 'ready';
  }

  async #write(record: SharedRecord): Promise<void> {
    if (!this.#ready()) return;
    const { redis, origin, leaseTtl } = this.#settings;
    const running = record.status.status === 'running' || record.status.phase === 'rolling-back';
    if (running && this.#driving !== record.id) {
      // Take the lease before the first write of a rollout driven here.
      const held = Number(await redis.client.eval(HOLD, 1, this.#leaseKey, origin, String(leaseTtl)));
      if (held !== 1) {
        // Another instance drives a rollout: this one yields (and rolls its own start back).
        this.#settings.manager.cancel('another instance holds the rollout lease');
        return;
      }
      this.#driving = record.id;
    }
    const final = !running && this.#driving === record.id;
    if (final) this.#driving = undefined;
    await redis.client.eval(
      WRITE,
      2,
      this.#recordKey,
      this.#leaseKey,
      this.#channel,
      JSON.stringify(record),
      origin,
      final ? '1' : '0',
    );
  }

  async #load(): Promise<void> {
    if (!this.#ready()) return;
    const text = await this.#settings.redis.client.get(this.#recordKey);
    const record = text === null ? undefined : parseJson<SharedRecord>(text);
    if (record) this.#adopt(record);
  }

  #receive(text: string): void {
    const message = parseJson<Message>(text);
    if (this.#closed || message === undefined) return;
    if (message.type === 'cancel') {
      if (this.#driving === message.id) this.#settings.manager.cancel(message.reason);
      return;
    }
    if (message.type === 'record' && message.record?.driver !== this.#settings.origin) this.#adopt(message.record);
  }

  /** A record from another instance (or loaded): shown from now on. */
  #adopt(record: SharedRecord): void {
    if (typeof record?.id !== 'string' || typeof record.status !== 'object' || record.status === null) return;
    const lists = [record.previous, record.added, record.planned, record.keep];
    if (!lists.every(Array.isArray)) return;
    // This instance drives that rollout: its own state is newer than any echo.
    if (this.#driving === record.id || (this.#restoring && this.#record?.id === record.id)) return;
    this.#record = Object.freeze(record);
    this.#settings.events.emit('cluster:rollout', {
      id: record.id,
      status: record.status.status,
      phase: record.status.phase,
      driver: record.driver,
    });
    if (record.status.rolledBack) {
      this.#settings.manager.markRolledBack(record.id, record.status.reason ?? 'rolled back by another instance');
    }
  }

  /** Renews the lease of a rollout driven here; elsewhere, takes over a running rollout whose lease expired. */
  async #tick(): Promise<void> {
    if (!this.#ready()) return;
    const { redis, origin, leaseTtl, manager } = this.#settings;
    if (this.#driving !== undefined) {
      const held = Number(await redis.client.eval(HOLD, 1, this.#leaseKey, origin, String(leaseTtl)));
      if (held !== 1) {
        // Away past the lease (a pause, a partition): another instance has it now.
        const id = this.#driving;
        this.#driving = undefined;
        if (manager.status()?.id === id) manager.cancel('lost the rollout lease to another instance');
      }
      return;
    }
    const record = this.#record;
    if (this.#restoring || !record || record.status.status !== 'running' || record.driver === origin) return;
    const taken = await redis.client.set(this.#leaseKey, origin, 'PX', leaseTtl, 'NX');
    if (taken !== 'OK') return;
    // Read again under the lease: the record may have moved on since the last message.
    const text = await redis.client.get(this.#recordKey);
    const current = text === null ? undefined : parseJson<SharedRecord>(text);
    if (!current || current.id !== record.id || current.status?.status !== 'running') {
      await redis.client.eval(RELEASE, 1, this.#leaseKey, origin);
      if (current) this.#adopt(current);
      return;
    }
    this.#restore(
      current,
      `driver ${current.driver} lost its lease (stopped or died); rolled back by ${origin}`,
      true,
    ).catch(() => {});
  }

  /**
   * Restores the set `record` replaced, from this instance: re-adds the old
   * backends that are gone (they served moments ago: no health wait), restores
   * kept weights, drains and removes the rollout's backends, and publishes
   * each step under the lease.
   */
  async #restore(record: SharedRecord, reason: string, leased: boolean): Promise<RollbackResult> {
    const { host, redis, origin, leaseTtl, events } = this.#settings;
    this.#restoring = true;
    try {
      if (!leased && this.#ready()) {
        const held = Number(await redis.client.eval(HOLD, 1, this.#leaseKey, origin, String(leaseTtl)));
        if (held !== 1) throw makeError('ERR_ROLLOUT_IN_PROGRESS', 'another instance holds the rollout lease');
      }
      const publish = async (status: RolloutStatus, final: boolean) => {
        const next: SharedRecord = { ...record, driver: origin, status };
        this.#record = Object.freeze(next);
        if (this.#ready()) {
          const text = JSON.stringify(next);
          await redis.client.eval(
            WRITE,
            2,
            this.#recordKey,
            this.#leaseKey,
            this.#channel,
            text,
            origin,
            final ? '1' : '0',
          );
        }
      };
      // Renew while draining: removals can take up to drainTimeout.
      const renew = setInterval(() => {
        if (this.#ready()) redis.client.eval(HOLD, 1, this.#leaseKey, origin, String(leaseTtl)).catch(() => {});
      }, leaseTtl / 3);
      renew.unref();
      const errors: string[] = [];
      let restored: string[] = [];
      let removed: string[] = [];
      try {
        await publish({ ...record.status, phase: 'rolling-back' }, false);
        // The old backends served moments ago: they take traffic at once, as after a failed gate.
        restored = readdPrevious(host, record.previous, false, errors).map((b) => b.id);
        if (record.keptApplied) {
          for (const kept of record.keep) {
            if (host.get(kept.id)) host.update(kept.id, kept.previous);
          }
        }
        // The driver may have died between adding a backend and recording it: remove every planned one present.
        removed = await removeAdded(host, record.planned, record.previous, undefined, errors);
      } finally {
        clearInterval(renew);
      }
      const full = errors.length > 0 ? `${reason}; rollback incomplete: ${errors.join('; ')}` : reason;
      await publish(
        {
          ...record.status,
          status: errors.length > 0 ? 'failed' : 'rolled-back',
          phase: 'done',
          reason: full,
          rolledBack: errors.length === 0,
          finishedAt: new Date().toISOString(),
        },
        true,
      );
      if (errors.length > 0) {
        events.emit('rollout:failed', { id: record.id, reason: full });
        throw makeError('ERR_INTERNAL', full);
      }
      events.emit('rollout:rolled-back', { id: record.id, reason });
      return Object.freeze({ id: record.id, restored, removed });
    } finally {
      this.#restoring = false;
    }
  }
}
