/**
 * @module
 * Short-term traffic history for the dashboard: requests, errors and latency
 * in fixed sample intervals over the last minutes (a ring buffer, so a page
 * opened now still has history), per-backend rates over a sliding window,
 * and a ring of recent operational events. Buckets roll lazily on each
 * record or read, driven by the injected clock: no timer runs.
 */

import type { BackendSnapshot } from '../../core/backend.js';
import type { EventName, SwitchyardEvents } from '../../core/events.js';

/** What {@link LiveStats} listens to: a balancer (or anything with the same typed `on`/`off`). */
export interface LiveStatsSource {
  on<E extends EventName>(event: E, listener: (payload: SwitchyardEvents[E]) => void): unknown;
  off<E extends EventName>(event: E, listener: (payload: SwitchyardEvents[E]) => void): unknown;
}

/** Options of {@link LiveStats}; every duration in milliseconds. */
export interface LiveStatsOptions {
  /** Wall clock, epoch milliseconds (sample timestamps are shown to people). @default Date.now */
  readonly clock?: () => number;
  /** Length of one sample. @default 2000 */
  readonly sampleMs?: number;
  /** How much history to keep. @default 900000 (15 minutes) */
  readonly historyMs?: number;
  /** Window of the live per-backend figures (req/s, error rate, percentiles). @default 10000 */
  readonly windowMs?: number;
  /** Recent events kept. @default 200 */
  readonly maxEvents?: number;
  /** Backends with their own traffic series (the busiest ones past this share an `other` line). @default 16 */
  readonly maxSeries?: number;
}

/** Live figures over the sliding window. Latencies in milliseconds (`null` without requests). */
export interface LiveFigures {
  /** Requests per second. */
  readonly rps: number;
  /** Share of requests answered 5xx (or cut by the balancer), 0 to 1. */
  readonly errorRate: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Per-backend live figures plus the states the dashboard shows separately. */
export interface BackendLiveFigures extends LiveFigures {
  readonly id: string;
  /** Active health verdict (`healthy` until a check says otherwise). */
  readonly health: 'healthy' | 'unhealthy';
  /** Circuit breaker state. */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /** Whether outlier detection has it ejected now. */
  readonly ejected: boolean;
  /** Ejections since the dashboard started watching. */
  readonly ejections: number;
}

/**
 * The body of `GET /stats`. `series` is columnar (one array per line, aligned
 * on `t`, in epoch seconds): rates per second, latencies in milliseconds,
 * `null` where a sample had no request.
 */
export interface LiveStatsBody {
  readonly sampleMs: number;
  readonly windowMs: number;
  readonly historyMs: number;
  readonly totals: LiveFigures;
  readonly backends: readonly BackendLiveFigures[];
  readonly series: {
    readonly t: readonly number[];
    readonly rps: readonly number[];
    readonly errors: readonly number[];
    readonly p50: readonly (number | null)[];
    readonly p95: readonly (number | null)[];
    readonly p99: readonly (number | null)[];
    /** Requests per second per backend id. */
    readonly backends: Readonly<Record<string, readonly number[]>>;
  };
}

/** One recent event as `GET /events` lists it. */
export interface LiveEvent {
  /** Increasing number: ask for `?after=<seq>` to get only newer ones. */
  readonly seq: number;
  /** ISO 8601 time. */
  readonly time: string;
  readonly type: EventName;
  readonly backend?: string;
  /** One line for people. */
  readonly message: string;
}

/** Relative width of a latency bucket: quantiles are exact to about ±5 %. */
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
/** Latencies below this share bucket 0. */
const FLOOR_MS = 0.05;

/** Counts by latency bucket (sparse: most traffic lands in a few buckets). */
type Histogram = Map<number, number>;

interface Tally {
  requests: number;
  errors: number;
  hist: Histogram | undefined;
}

interface Bucket {
  readonly start: number;
  readonly total: Tally;
  readonly byBackend: Map<string, Tally>;
  /** Quantiles frozen when the bucket left the live window (its histograms are dropped then). */
  frozen?: { p50: number | null; p95: number | null; p99: number | null };
}

function bucketOf(ms: number): number {
  return ms <= FLOOR_MS ? 0 : Math.max(0, Math.ceil(Math.log(ms / FLOOR_MS) / LOG_GROWTH));
}

function upperBound(bucket: number): number {
  return FLOOR_MS * GROWTH ** bucket;
}

function newTally(): Tally {
  return { requests: 0, errors: 0, hist: new Map() };
}

function add(tally: Tally, ms: number, error: boolean): void {
  tally.requests++;
  if (error) tally.errors++;
  if (tally.hist) {
    const b = bucketOf(ms);
    tally.hist.set(b, (tally.hist.get(b) ?? 0) + 1);
  }
}

/** p50/p95/p99 of merged histograms: each quantile is its bucket's upper bound, rounded to 0.01 ms. */
function quantiles(hists: readonly Histogram[]): { p50: number | null; p95: number | null; p99: number | null } {
  const merged = new Map<number, number>();
  let n = 0;
  for (const h of hists) {
    for (const [b, c] of h) {
      merged.set(b, (merged.get(b) ?? 0) + c);
      n += c;
    }
  }
  if (n === 0) return { p50: null, p95: null, p99: null };
  const sorted = [...merged].sort((x, y) => x[0] - y[0]);
  const at = (q: number): number => {
    const rank = Math.ceil(q * n);
    let seen = 0;
    for (const [b, c] of sorted) {
      seen += c;
      if (seen >= rank) return Math.round(upperBound(b) * 100) / 100;
    }
    return Math.round(upperBound((sorted.at(-1) as [number, number])[0]) * 100) / 100;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Events worth showing an operator, each turned into one line. */
const DESCRIBE: { [E in EventName]?: (p: SwitchyardEvents[E]) => { backend?: string; message: string } } = {
  'backend:added': (p) => ({ backend: p.backend.id, message: `added (${p.backend.url}, weight ${p.backend.weight})` }),
  'backend:updated': (p) => ({
    backend: p.backend.id,
    message: `updated: weight ${p.previous.weight} → ${p.backend.weight}`,
  }),
  'backend:healthy': (p) => ({ backend: p.backend.id, message: `healthy: ${p.reason}` }),
  'backend:unhealthy': (p) => ({ backend: p.backend.id, message: `unhealthy: ${p.reason}` }),
  'backend:ejected': (p) => ({
    backend: p.backend.id,
    message: `ejected (${p.reason}) for ${Math.round(p.durationMs / 1000)} s, ejection #${p.ejections}`,
  }),
  'backend:restored': (p) => ({ backend: p.backend.id, message: 'restored after ejection' }),
  'backend:draining': (p) => ({ backend: p.backend.id, message: 'draining' }),
  'backend:drained': (p) => ({
    backend: p.backend.id,
    message: p.timedOut ? `drain timed out, ${p.abandoned} request(s) cut` : 'drained',
  }),
  'backend:removed': (p) => ({ backend: p.backend.id, message: 'removed' }),
  'breaker:open': (p) => ({ backend: p.backend, message: 'circuit breaker opened' }),
  'breaker:half-open': (p) => ({ backend: p.backend, message: 'circuit breaker half-open' }),
  'breaker:close': (p) => ({ backend: p.backend, message: 'circuit breaker closed' }),
  'rollout:started': (p) => ({
    message: `rollout ${p.id} started: ${p.to.length} backend(s) in ${p.batches} batch(es)`,
  }),
  'rollout:step': (p) => ({ message: `rollout ${p.id}: batch ${p.batch}/${p.batches} passed` }),
  'rollout:completed': (p) => ({ message: `rollout ${p.id} completed in ${Math.round(p.durationMs / 1000)} s` }),
  'rollout:rolled-back': (p) => ({ message: `rollout ${p.id} rolled back: ${p.reason}` }),
  'rollout:failed': (p) => ({ message: `rollout ${p.id} stopped: ${p.reason}` }),
};

/**
 * Watches a balancer's events and keeps what the dashboard charts: a ring of
 * samples (`sampleMs` each, `historyMs` long), live per-backend figures over
 * `windowMs`, breaker/health/ejection state, and the last `maxEvents`
 * operational events. Costs one listener call per finished request.
 *
 * @example
 * ```ts
 * import { LiveStats } from './live-stats.js';
 * const live = new LiveStats(lb, () => lb.backends());
 * setInterval(() => console.log(live.stats().totals.rps), 2000).unref();
 * ```
 */
export class LiveStats {
  readonly #sampleMs: number;
  readonly #historyMs: number;
  readonly #windowMs: number;
  readonly #maxEvents: number;
  readonly #maxSeries: number;
  readonly #clock: () => number;
  readonly #source: LiveStatsSource;
  readonly #snapshots: () => readonly BackendSnapshot[];
  readonly #buckets: Bucket[] = [];
  readonly #events: LiveEvent[] = [];
  #seq = 0;
  readonly #breaker = new Map<string, 'open' | 'half-open'>();
  readonly #unhealthy = new Set<string>();
  readonly #ejections = new Map<string, number>();
  readonly #unsubscribe: Array<() => void> = [];

  constructor(source: LiveStatsSource, snapshots: () => readonly BackendSnapshot[], options: LiveStatsOptions = {}) {
    this.#source = source;
    this.#snapshots = snapshots;
    this.#clock = options.clock ?? Date.now;
    this.#sampleMs = options.sampleMs ?? 2000;
    this.#historyMs = options.historyMs ?? 15 * 60_000;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#maxEvents = options.maxEvents ?? 200;
    this.#maxSeries = options.maxSeries ?? 16;
    for (const snapshot of snapshots()) {
      if (snapshot.status === 'unhealthy') this.#unhealthy.add(snapshot.id);
      if (snapshot.status === 'open') this.#breaker.set(snapshot.id, 'open');
    }
    this.#listen('request', (p) => this.record(p.backend, p.status, p.durationMs, p.error !== undefined));
    this.#listen('breaker:open', (p) => this.#breaker.set(p.backend, 'open'));
    this.#listen('breaker:half-open', (p) => this.#breaker.set(p.backend, 'half-open'));
    this.#listen('breaker:close', (p) => this.#breaker.delete(p.backend));
    this.#listen('backend:unhealthy', (p) => this.#unhealthy.add(p.backend.id));
    this.#listen('backend:healthy', (p) => this.#unhealthy.delete(p.backend.id));
    this.#listen('backend:ejected', (p) => this.#ejections.set(p.backend.id, p.ejections));
    this.#listen('backend:removed', (p) => {
      this.#breaker.delete(p.backend.id);
      this.#unhealthy.delete(p.backend.id);
      this.#ejections.delete(p.backend.id);
    });
    this.#listen('closed', () => this.close());
    for (const type of Object.keys(DESCRIBE) as EventName[]) {
      const describe = DESCRIBE[type] as (p: unknown) => { backend?: string; message: string };
      this.#listen(type, (payload) => this.#remember(type, describe(payload)));
    }
  }

  #listen<E extends EventName>(event: E, listener: (payload: SwitchyardEvents[E]) => void): void {
    this.#source.on(event, listener);
    this.#unsubscribe.push(() => this.#source.off(event, listener));
  }

  /** Stops listening (also done when the balancer emits `closed`). */
  close(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /**
   * Counts one finished request. `error` marks one the balancer itself cut
   * (no backend, timeout...); any 5xx counts as an error too, a 499 does not.
   */
  record(backend: string | undefined, status: number, durationMs: number, error: boolean): void {
    const bucket = this.#current();
    const failed = status >= 500 || (error && status !== 499);
    add(bucket.total, durationMs, failed);
    if (backend !== undefined) {
      let tally = bucket.byBackend.get(backend);
      if (!tally) {
        tally = newTally();
        bucket.byBackend.set(backend, tally);
      }
      add(tally, durationMs, failed);
    }
  }

  /** The bucket for now, rolling the ring forward (with empty buckets for quiet intervals). */
  #current(): Bucket {
    const now = this.#clock();
    const start = Math.floor(now / this.#sampleMs) * this.#sampleMs;
    const last = this.#buckets.at(-1);
    if (last && last.start === start) return last;
    const oldest = start - this.#historyMs + this.#sampleMs;
    let next = last ? Math.max(last.start + this.#sampleMs, oldest) : start;
    if (last && last.start > start) next = start; // the clock stepped back: start a fresh sample
    for (; next <= start; next += this.#sampleMs) {
      this.#buckets.push({ start: next, total: newTally(), byBackend: new Map() });
    }
    let drop = 0;
    while (drop < this.#buckets.length && (this.#buckets[drop] as Bucket).start < oldest) drop++;
    if (drop > 0) this.#buckets.splice(0, drop);
    // Buckets that left the live window keep only their quantiles.
    const windowStart = now - this.#windowMs;
    for (const bucket of this.#buckets) {
      if (bucket.start + this.#sampleMs > windowStart) break;
      if (bucket.frozen) continue;
      bucket.frozen = quantiles(bucket.total.hist ? [bucket.total.hist] : []);
      bucket.total.hist = undefined;
      for (const tally of bucket.byBackend.values()) tally.hist = undefined;
    }
    return this.#buckets.at(-1) as Bucket;
  }

  /** Everything `GET /stats` returns. */
  stats(): LiveStatsBody {
    this.#current();
    const now = this.#clock();
    const windowStart = now - this.#windowMs;
    const live = this.#buckets.filter((b) => b.start + this.#sampleMs > windowStart);
    // The window covers whole samples up to now, but never more than the history held.
    const firstLive = live[0];
    const seconds = Math.max(this.#sampleMs, now - (firstLive ? firstLive.start : now)) / 1000;
    const figures = (tallies: readonly Tally[]): LiveFigures => {
      let requests = 0;
      let errors = 0;
      const hists: Histogram[] = [];
      for (const t of tallies) {
        requests += t.requests;
        errors += t.errors;
        if (t.hist) hists.push(t.hist);
      }
      return {
        rps: round(requests / seconds),
        errorRate: requests === 0 ? 0 : round(errors / requests, 4),
        ...quantiles(hists),
      };
    };
    const backends = this.#snapshots().map((snapshot): BackendLiveFigures => {
      const tallies: Tally[] = [];
      for (const b of live) {
        const t = b.byBackend.get(snapshot.id);
        if (t) tallies.push(t);
      }
      return {
        id: snapshot.id,
        ...figures(tallies),
        health: this.#unhealthy.has(snapshot.id) ? 'unhealthy' : 'healthy',
        breaker: this.#breaker.get(snapshot.id) ?? 'closed',
        ejected: snapshot.status === 'ejected',
        ejections: this.#ejections.get(snapshot.id) ?? 0,
      };
    });

    // Closed samples only: the running one would always dip.
    const closed = this.#buckets.slice(0, -1);
    const perSecond = 1000 / this.#sampleMs;
    const ids = this.#seriesIds(closed);
    const byBackend: Record<string, number[]> = {};
    for (const id of ids) byBackend[id] = [];
    const series = {
      t: [] as number[],
      rps: [] as number[],
      errors: [] as number[],
      p50: [] as (number | null)[],
      p95: [] as (number | null)[],
      p99: [] as (number | null)[],
      backends: byBackend,
    };
    for (const bucket of closed) {
      const q = bucket.frozen ?? quantiles(bucket.total.hist ? [bucket.total.hist] : []);
      series.t.push(bucket.start / 1000);
      series.rps.push(round(bucket.total.requests * perSecond));
      series.errors.push(round(bucket.total.errors * perSecond));
      series.p50.push(q.p50);
      series.p95.push(q.p95);
      series.p99.push(q.p99);
      for (const id of ids) {
        (byBackend[id] as number[]).push(round((bucket.byBackend.get(id)?.requests ?? 0) * perSecond));
      }
    }
    return {
      sampleMs: this.#sampleMs,
      windowMs: this.#windowMs,
      historyMs: this.#historyMs,
      totals: figures(live.map((b) => b.total)),
      backends,
      series,
    };
  }

  /** The backends with their own traffic line: the busiest `maxSeries` in the history. */
  #seriesIds(buckets: readonly Bucket[]): string[] {
    const counts = new Map<string, number>();
    for (const bucket of buckets) {
      for (const [id, tally] of bucket.byBackend) counts.set(id, (counts.get(id) ?? 0) + tally.requests);
    }
    return [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, this.#maxSeries)
      .map(([id]) => id)
      .sort();
  }

  /** Recent events newer than `after` (all kept ones without it), oldest first. */
  events(after = 0): { events: readonly LiveEvent[]; last: number } {
    return { events: this.#events.filter((e) => e.seq > after), last: this.#seq };
  }

  #remember(type: EventName, described: { backend?: string; message: string }): void {
    this.#events.push({ seq: ++this.#seq, time: new Date(this.#clock()).toISOString(), type, ...described });
    if (this.#events.length > this.#maxEvents) this.#events.splice(0, this.#events.length - this.#maxEvents);
  }
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
