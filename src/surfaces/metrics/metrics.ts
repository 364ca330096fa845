import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend, BackendStatus } from '../../core/backend.js';
import { ConfigError } from '../../core/errors.js';
import type { Events, Listener, SwitchyardEvents } from '../../core/events.js';
import { promClient } from '../../vendor/dependencies.js';
import { type CounterChild, Family } from './family.js';
import { BoundedLabel, methodLabel, OVERFLOW_LABEL, STATUS_CLASSES, statusClassIndex } from './labels.js';
import { LatencyWindow } from './latency-window.js';
import { createLeanHistogram, type LeanHistogram, type LeanSeries } from './lean-histogram.js';
import type { ResolvedMetricsOptions } from './options.js';
import type { BackendStats, BalancerStats, BreakerState, StatusClassCounts } from './stats.js';

/** What the metrics read from the balancer when scraped. */
export interface MetricsSource {
  /** Every backend in the pool, draining ones included. */
  backends(): Iterable<Backend>;
  /** The pool's backend with this id, if it is still there. */
  backend(id: string): Backend | undefined;
  /** Client requests in flight. */
  inflight(): number;
  /** Balancer clock, ms. */
  now(): number;
}

const BACKEND_STATES: readonly BackendStatus[] = ['healthy', 'unhealthy', 'ejected', 'open', 'draining'];
const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half_open'];
const ROLLOUT_STATES = ['idle', 'in_progress', 'completed', 'rolled_back', 'failed'] as const;
const REDIS_STATES = ['ready', 'error', 'end'] as const;
/** Most distinct backend ids (and rate-limit names) a label takes before values fold into `other`. */
const MAX_BACKENDS = 1024;
const MAX_LIMIT_NAMES = 64;
const WINDOW_SLOTS = 6;

/** Families of counters, by metric, so each counter's `collect` can flush its pending increments. */
const PENDING = new WeakMap<object, Family<Counter<string>>>();

function flushPending(this: Counter<string>): void {
  PENDING.get(this)?.flush();
}

/** A backend's counters behind `stats()`. */
class BackendRecord {
  readonly window: LatencyWindow;
  readonly classes = new Float64Array(STATUS_CLASSES.length);
  readonly errors = new Map<string, number>();
  /**
   * The backend's `backend` label once it is known to be its id (it stays so
   * until the backend leaves, and the record with it); `other` is not kept.
   */
  label: string | undefined;
  /** Its `upstream_duration_seconds` series, found once (with {@link label}). */
  upstream: LeanSeries | undefined;
  /** Its `requests_total` counters by method label, then status class index, found once each (with {@link label}). */
  readonly requests = new Map<string, (CounterChild | undefined)[]>();

  constructor(windowMs: number) {
    this.window = new LatencyWindow({ windowMs, slots: WINDOW_SLOTS });
  }
}

function classCounts(counts: Float64Array): StatusClassCounts {
  const out: StatusClassCounts = {};
  for (let i = 1; i < counts.length; i++) out[STATUS_CLASSES[i] as string] = counts[i] as number;
  if ((counts[0] as number) > 0) out.other = counts[0] as number;
  return out;
}

/**
 * Every Prometheus metric of one balancer, in its own prom-client `Registry`
 * (or the caller's), fed by the balancer's typed events and, for gauges,
 * read from the pool when scraped. Also keeps the counts and latency windows
 * behind `lb.stats()`.
 *
 * Label values are bounded: methods outside the standard ones are `OTHER`,
 * statuses are classes, backends are ids of the pool (`none` when no backend
 * was reached, `other` for one that already left or past 1024 ids), rate
 * limits are limit names (never the client key).
 *
 * @example
 * ```ts
 * import { BalancerMetrics } from './metrics.js';
 * import { metricsSchema } from './options.js';
 * declare const source: import('./metrics.js').MetricsSource;
 * const metrics = new BalancerMetrics(metricsSchema.parse({}), source);
 * metrics.subscribe(events);
 * await metrics.registry.metrics();
 * ```
 */
export class BalancerMetrics {
  readonly registry: Registry;
  readonly windowMs: number;
  readonly #owned: boolean;
  readonly #source: MetricsSource;
  readonly #constant: Readonly<Record<string, string>>;
  readonly #constantNames: readonly string[];
  readonly #registered: string[] = [];
  readonly #backendFamilies: Family<Counter<string> | Gauge<string> | Histogram<string>>[] = [];
  readonly #backendLabel = new BoundedLabel(MAX_BACKENDS);
  readonly #limitLabel = new BoundedLabel(MAX_LIMIT_NAMES);
  /** Aborted to unsubscribe every listener at once. */
  #subscription = new AbortController();

  readonly #requests: Family<Counter<string>>;
  readonly #requestDuration: Family<LeanHistogram>;
  /** The request-duration series of each status class, looked up once. */
  readonly #durationOf: Array<LeanSeries | undefined> = [];
  readonly #requestErrors: Family<Counter<string>>;
  readonly #upstreamDuration: Family<LeanHistogram>;
  readonly #upstreamErrors: Family<Counter<string>>;
  readonly #concurrencyLimit: Family<Gauge<string>>;
  readonly #retries: Family<Counter<string>>;
  readonly #hedges: Family<Counter<string>>;
  readonly #ejections: Family<Counter<string>>;
  readonly #healthTransitions: Family<Counter<string>>;
  readonly #breakerTransitions: Family<Counter<string>>;
  readonly #upgrades: Family<Counter<string>>;
  readonly #queueDepth: Gauge.Internal<string>;
  readonly #queueOps: Family<Counter<string>>;
  readonly #rateLimit: Family<Counter<string>>;
  readonly #sticky: Family<Counter<string>>;
  readonly #cacheLookups: Family<Counter<string>>;
  readonly #cacheStores: Counter.Internal;
  readonly #cacheEvictions: Family<Counter<string>>;
  readonly #cacheEntries: Gauge.Internal<string>;
  readonly #cacheBytes: Gauge.Internal<string>;
  readonly #rolloutState: Family<Gauge<string>>;
  readonly #rolloutProgress: Gauge.Internal<string>;
  readonly #rolloutEvents: Family<Counter<string>>;
  readonly #redisState: Family<Gauge<string>>;

  // Counts behind stats().
  readonly #window: LatencyWindow;
  readonly #classes = new Float64Array(STATUS_CLASSES.length);
  readonly #errors = new Map<string, number>();
  readonly #records = new Map<string, BackendRecord>();
  readonly #breakers = new Map<string, BreakerState>();
  #total = 0;
  #retryCount = 0;
  #hedgeCount = 0;
  #ejectionCount = 0;
  #allowed = 0;
  #limited = 0;
  #hits = 0;
  #misses = 0;
  #entries = 0;
  #bytes = 0;

  constructor(options: ResolvedMetricsOptions, source: MetricsSource) {
    const { Counter, Gauge, Registry } = promClient();
    this.#owned = options.registry === undefined;
    this.registry = options.registry ?? new Registry();
    this.windowMs = options.window;
    this.#source = source;
    this.#constant = Object.freeze({ ...options.defaultLabels });
    this.#constantNames = Object.keys(this.#constant);
    this.#window = new LatencyWindow({ windowMs: options.window, slots: WINDOW_SLOTS });
    const p = options.prefix;
    const buckets = [...options.buckets];

    try {
      this.#requests = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}requests_total`,
          help: 'Client requests finished, by the backend of the last attempt ("none" when none was reached), method and status class.',
          labelNames: this.#labels('backend', 'method', 'status_class'),
          registers: [],
        }),
        ['backend', 'method', 'status_class'],
        true,
      );
      this.#requestDuration = this.#family(
        createLeanHistogram({
          name: `${p}request_duration_seconds`,
          help: 'Client-facing request duration, from the request arriving to the last byte of the response.',
          labelNames: this.#labels('status_class'),
          buckets,
          registers: [],
        }),
        ['status_class'],
      );
      this.#requestErrors = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}request_errors_total`,
          help: 'Requests the balancer ended with an error (no backend, timeout, client abort...), by error code.',
          labelNames: this.#labels('code'),
          registers: [],
        }),
        ['code'],
      );
      this.#gauge(`${p}requests_in_flight`, 'Client requests in flight.', [], (gauge) => {
        gauge.set(this.#constant, this.#source.inflight());
      });
      this.#upstreamDuration = this.#family(
        createLeanHistogram({
          name: `${p}upstream_duration_seconds`,
          help: 'Time from sending an attempt to a backend to receiving its response headers.',
          labelNames: this.#labels('backend'),
          buckets,
          registers: [],
        }),
        ['backend'],
        true,
      );
      this.#upstreamErrors = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}upstream_errors_total`,
          help: 'Attempts that failed at a backend (connect failure, reset, timeout, malformed response), by error code.',
          labelNames: this.#labels('backend', 'code'),
          registers: [],
        }),
        ['backend', 'code'],
        true,
      );
      this.#gauge(`${p}backend_active_requests`, 'Requests in flight at a backend.', ['backend'], (gauge) => {
        for (const b of this.#source.backends()) gauge.set({ ...this.#constant, backend: b.id }, b.active);
      });
      this.#gauge(
        `${p}backend_open_connections`,
        'Open connections to a backend: busy (carrying a request) or idle (kept alive in the pool).',
        ['backend', 'state'],
        (gauge) => {
          for (const b of this.#source.backends()) {
            const open = b.connections();
            gauge.set({ ...this.#constant, backend: b.id, state: 'busy' }, open.busy);
            gauge.set({ ...this.#constant, backend: b.id, state: 'idle' }, open.idle);
          }
        },
      );
      this.#gauge(
        `${p}backend_up`,
        '1 when a backend takes new requests (healthy, not ejected, breaker not open, not draining), else 0.',
        ['backend'],
        (gauge) => {
          const now = this.#source.now();
          for (const b of this.#source.backends())
            gauge.set({ ...this.#constant, backend: b.id }, b.isAvailable(now) ? 1 : 0);
        },
      );
      this.#gauge(
        `${p}backend_state`,
        'Backend state, one series per state with 1 on the current one: healthy, unhealthy, ejected, open (breaker), draining.',
        ['backend', 'state'],
        (gauge) => {
          for (const b of this.#source.backends()) {
            const current = b.status;
            for (const state of BACKEND_STATES) {
              gauge.set({ ...this.#constant, backend: b.id, state }, state === current ? 1 : 0);
            }
          }
        },
      );
      this.#gauge(
        `${p}backend_breaker_state`,
        'Circuit breaker state, one series per state with 1 on the current one: closed, open, half_open.',
        ['backend', 'state'],
        (gauge) => {
          for (const b of this.#source.backends()) {
            const current = this.#breakerOf(b);
            for (const state of BREAKER_STATES) {
              gauge.set({ ...this.#constant, backend: b.id, state }, state === current ? 1 : 0);
            }
          }
        },
      );
      this.#gauge(`${p}backend_weight`, 'Effective weight of a backend (after slow start).', ['backend'], (gauge) => {
        for (const b of this.#source.backends()) gauge.set({ ...this.#constant, backend: b.id }, b.effectiveWeight);
      });
      this.#concurrencyLimit = this.#family(
        new Gauge({
          name: `${p}backend_concurrency_limit`,
          help: 'Adaptive concurrency limit of a backend, as last changed.',
          labelNames: this.#labels('backend'),
          registers: [],
        }),
        ['backend'],
        true,
      );
      this.#retries = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}retries_total`,
          help: 'Retries sent, by the backend whose attempt failed and the reason (connect-failure, reset, timeout, status).',
          labelNames: this.#labels('backend', 'reason'),
          registers: [],
        }),
        ['backend', 'reason'],
        true,
      );
      this.#hedges = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}hedges_total`,
          help: 'Hedged (speculative) attempts sent, by the backend they went to.',
          labelNames: this.#labels('backend'),
          registers: [],
        }),
        ['backend'],
        true,
      );
      this.#ejections = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}ejections_total`,
          help: 'Outlier ejections, by backend and reason.',
          labelNames: this.#labels('backend', 'reason'),
          registers: [],
        }),
        ['backend', 'reason'],
        true,
      );
      this.#healthTransitions = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}health_transitions_total`,
          help: 'Active health check transitions, by backend and the state entered (healthy, unhealthy).',
          labelNames: this.#labels('backend', 'state'),
          registers: [],
        }),
        ['backend', 'state'],
        true,
      );
      this.#breakerTransitions = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}breaker_transitions_total`,
          help: 'Circuit breaker transitions, by backend and the state entered (open, half_open, closed).',
          labelNames: this.#labels('backend', 'state'),
          registers: [],
        }),
        ['backend', 'state'],
        true,
      );
      this.#upgrades = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}upgrades_total`,
          help: 'Upgrade (WebSocket) tunnels, by backend ("none" when refused before one was chosen) and result (ok, error).',
          labelNames: this.#labels('backend', 'result'),
          registers: [],
        }),
        ['backend', 'result'],
        true,
      );
      this.#queueDepth = this.#single(
        new Gauge({
          name: `${p}queue_depth`,
          help: 'Requests waiting for a backend connection slot, as last reported.',
          labelNames: this.#labels(),
          registers: [],
        }),
      ) as Gauge.Internal<string>;
      this.#queueOps = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}queue_operations_total`,
          help: 'Queue outcomes: enqueued, dequeued (got a slot), rejected (queue full), timeout.',
          labelNames: this.#labels('action'),
          registers: [],
        }),
        ['action'],
      );
      this.#rateLimit = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}ratelimit_decisions_total`,
          help: 'Rate-limit decisions, by limit name and decision (allowed, limited). Never by client key.',
          labelNames: this.#labels('limit', 'decision'),
          registers: [],
        }),
        ['limit', 'decision'],
      );
      this.#sticky = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}sticky_decisions_total`,
          help: 'Sticky-session decisions: hit, new, fallback, rejected.',
          labelNames: this.#labels('result'),
          registers: [],
        }),
        ['result'],
      );
      this.#cacheLookups = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}cache_lookups_total`,
          help: 'Cache lookups: hit, miss, coalesced (joined an in-flight fill), bypass (not cacheable).',
          labelNames: this.#labels('result'),
          registers: [],
        }),
        ['result'],
      );
      this.#cacheStores = this.#single(
        new Counter({
          collect: flushPending,
          name: `${p}cache_stores_total`,
          help: 'Responses stored in the cache.',
          labelNames: this.#labels(),
          registers: [],
        }),
      ) as Counter.Internal;
      this.#cacheEvictions = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}cache_evictions_total`,
          help: 'Cache entries removed, by reason (lru, expired, bytes, purge).',
          labelNames: this.#labels('reason'),
          registers: [],
        }),
        ['reason'],
      );
      this.#cacheEntries = this.#single(
        new Gauge({
          name: `${p}cache_entries`,
          help: 'Entries in the response cache.',
          labelNames: this.#labels(),
          registers: [],
        }),
      ) as Gauge.Internal<string>;
      this.#cacheBytes = this.#single(
        new Gauge({
          name: `${p}cache_bytes`,
          help: 'Bytes of response bodies in the cache.',
          labelNames: this.#labels(),
          registers: [],
        }),
      ) as Gauge.Internal<string>;
      this.#rolloutState = this.#family(
        new Gauge({
          name: `${p}rollout_state`,
          help: 'Rollout state, one series per state with 1 on the current one: idle, in_progress, or the last outcome (completed, rolled_back, failed).',
          labelNames: this.#labels('state'),
          registers: [],
        }),
        ['state'],
      );
      this.#rolloutProgress = this.#single(
        new Gauge({
          name: `${p}rollout_progress_ratio`,
          help: 'Batches done over batches of the current or last rollout, 0 to 1.',
          labelNames: this.#labels(),
          registers: [],
        }),
      ) as Gauge.Internal<string>;
      this.#rolloutEvents = this.#family(
        new Counter({
          collect: flushPending,
          name: `${p}rollout_events_total`,
          help: 'Rollout events: started, step, completed, rolled_back, failed.',
          labelNames: this.#labels('event'),
          registers: [],
        }),
        ['event'],
      );
      this.#redisState = this.#family(
        new Gauge({
          name: `${p}redis_state`,
          help: 'Shared Redis connection state, one series per state with 1 on the current one: ready, error, end.',
          labelNames: this.#labels('state'),
          registers: [],
        }),
        ['state'],
      );
    } catch (error) {
      this.unregister();
      throw error;
    }
    this.#setRollout('idle');
  }

  #labels(...names: string[]): string[] {
    return [...this.#constantNames, ...names];
  }

  #register(metric: Counter<string> | Gauge<string> | Histogram<string>): void {
    const name = (metric as unknown as { name: string }).name;
    if (this.registry.getSingleMetric(name)) {
      throw new ConfigError(
        'metrics.prefix',
        name,
        'a prefix no other metric in the registry uses (balancers sharing a registry need different prefixes)',
      );
    }
    this.registry.registerMetric(metric);
    this.#registered.push(name);
  }

  #family<M extends Counter<string> | Gauge<string> | Histogram<string>>(
    metric: M,
    names: string[],
    perBackend = false,
  ): Family<M> {
    this.#register(metric);
    const family = new Family(metric, names, this.#constant);
    if (metric instanceof promClient().Counter) PENDING.set(metric, family as unknown as Family<Counter<string>>);
    if (perBackend) this.#backendFamilies.push(family);
    return family;
  }

  #single(metric: Counter<string> | Gauge<string>): Counter.Internal | Gauge.Internal<string> {
    this.#register(metric);
    const child = (metric as Counter<string>).labels(this.#constant as Record<string, string>);
    child.inc(0);
    return child;
  }

  /** A gauge read from the pool on each scrape (its old series are dropped first). */
  #gauge(name: string, help: string, labels: string[], fill: (gauge: Gauge<string>) => void): void {
    const gauge: Gauge<string> = new (promClient().Gauge)({
      name,
      help,
      labelNames: this.#labels(...labels),
      registers: [],
      collect() {
        gauge.reset();
        fill(gauge);
      },
    });
    this.#register(gauge);
  }

  #breakerOf(backend: Backend): BreakerState {
    return this.#breakers.get(backend.id) ?? (backend.breakerOpen ? 'open' : 'closed');
  }

  /** The `backend` label of an id: itself while in the pool, `none` when absent, `other` once gone. */
  #backend(id: string | undefined): string {
    if (id === undefined || id === '') return 'none';
    return this.#source.backend(id) ? this.#backendLabel.value(id) : OVERFLOW_LABEL;
  }

  /** The `backend` label of the backend of `record` (see {@link #backend}), kept in the record once it is the id. */
  #recordLabel(record: BackendRecord, id: string): string {
    if (record.label !== undefined) return record.label;
    const label = this.#backend(id);
    if (label === id) record.label = label;
    return label;
  }

  /** The `requests_total` counter of a backend that has a record, for a method label and status class. */
  #requestCounter(record: BackendRecord, id: string, method: string, cls: number): CounterChild {
    let row = record.requests.get(method);
    if (row === undefined) {
      row = [];
      record.requests.set(method, row);
    }
    const kept = row[cls];
    if (kept !== undefined) return kept;
    const counter = this.#requests.child(this.#recordLabel(record, id), method, STATUS_CLASSES[cls] as string);
    if (record.label !== undefined) row[cls] = counter;
    return counter;
  }

  /** The `upstream_duration_seconds` series of a backend that has a record. */
  #upstreamSeries(record: BackendRecord, id: string): LeanSeries {
    if (record.upstream !== undefined) return record.upstream;
    const series = this.#upstreamDuration.child(this.#recordLabel(record, id));
    if (record.label !== undefined) record.upstream = series;
    return series;
  }

  #record(id: string | undefined): BackendRecord | undefined {
    if (id === undefined) return undefined;
    let record = this.#records.get(id);
    if (record === undefined && this.#source.backend(id) && this.#records.size < MAX_BACKENDS) {
      record = new BackendRecord(this.windowMs);
      this.#records.set(id, record);
    }
    return record;
  }

  #setRollout(state: (typeof ROLLOUT_STATES)[number]): void {
    for (const s of ROLLOUT_STATES) this.#rolloutState.child(s).set(s === state ? 1 : 0);
  }

  #on<E extends keyof SwitchyardEvents>(events: Events, event: E, listener: Listener<E>): void {
    events.on(event, listener, { signal: this.#subscription.signal });
  }

  /** Listens to the balancer's events. */
  subscribe(events: Events): void {
    // A backend with a record keeps its label and hot series in it: no label lookups per request.
    this.#on(events, 'request', (e) => {
      const cls = statusClassIndex(e.status);
      const label = STATUS_CLASSES[cls] as string;
      const method = methodLabel(e.method);
      const record = this.#record(e.backend);
      (record !== undefined
        ? this.#requestCounter(record, e.backend as string, method, cls)
        : this.#requests.child(this.#backend(e.backend), method, label)
      ).inc();
      let duration = this.#durationOf[cls];
      if (duration === undefined) {
        duration = this.#requestDuration.child(label);
        this.#durationOf[cls] = duration;
      }
      duration.observe(e.durationMs / 1000);
      this.#total++;
      (this.#classes[cls] as number)++;
      this.#window.record(e.durationMs, this.#source.now());
      if (e.error !== undefined) {
        this.#requestErrors.child(e.error).inc();
        this.#errors.set(e.error, (this.#errors.get(e.error) ?? 0) + 1);
      }
      if (record) (record.classes[cls] as number)++;
    });
    this.#on(events, 'upstream:response', (e) => {
      const record = this.#record(e.backend);
      (record !== undefined
        ? this.#upstreamSeries(record, e.backend as string)
        : this.#upstreamDuration.child(this.#backend(e.backend))
      ).observe(e.durationMs / 1000);
      record?.window.record(e.durationMs, this.#source.now());
    });
    this.#on(events, 'upstream:error', (e) => {
      this.#upstreamErrors.child(this.#backend(e.backend), e.code).inc();
      const record = this.#record(e.backend);
      if (record) record.errors.set(e.code, (record.errors.get(e.code) ?? 0) + 1);
    });
    this.#on(events, 'retry', (e) => {
      this.#retries.child(this.#backend(e.backend), e.reason).inc();
      this.#retryCount++;
    });
    this.#on(events, 'hedge', (e) => {
      this.#hedges.child(this.#backend(e.backend)).inc();
      this.#hedgeCount++;
    });
    this.#on(events, 'backend:ejected', (e) => {
      this.#ejections.child(this.#backend(e.backend.id), e.reason).inc();
      this.#ejectionCount++;
    });
    this.#on(events, 'backend:healthy', (e) => {
      this.#healthTransitions.child(this.#backend(e.backend.id), 'healthy').inc();
    });
    this.#on(events, 'backend:unhealthy', (e) => {
      this.#healthTransitions.child(this.#backend(e.backend.id), 'unhealthy').inc();
    });
    const breaker = (state: BreakerState) => (e: { backend: string }) => {
      if (this.#source.backend(e.backend)) this.#breakers.set(e.backend, state);
      this.#breakerTransitions.child(this.#backend(e.backend), state).inc();
    };
    this.#on(events, 'breaker:open', breaker('open'));
    this.#on(events, 'breaker:half-open', breaker('half_open'));
    this.#on(events, 'breaker:close', breaker('closed'));
    this.#on(events, 'limit:changed', (e) => {
      this.#concurrencyLimit.child(this.#backend(e.backend)).set(e.limit);
    });
    this.#on(events, 'upgrade', (e) => {
      this.#upgrades.child(this.#backend(e.backend), e.ok ? 'ok' : 'error').inc();
    });
    this.#on(events, 'queue', (e) => {
      this.#queueDepth.set(e.depth);
      this.#queueOps.child(e.action).inc();
    });
    this.#on(events, 'ratelimit', (e) => {
      this.#rateLimit.child(this.#limitLabel.value(e.limit), e.allowed ? 'allowed' : 'limited').inc();
      if (e.allowed) this.#allowed++;
      else this.#limited++;
    });
    this.#on(events, 'sticky', (e) => {
      this.#sticky.child(e.result).inc();
    });
    this.#on(events, 'cache', (e) => {
      if (e.result === 'stored') {
        this.#cacheStores.inc();
        this.#entries++;
        this.#bytes += e.bytes ?? 0;
        this.#cacheEntries.set(this.#entries);
        this.#cacheBytes.set(this.#bytes);
        return;
      }
      this.#cacheLookups.child(e.result).inc();
      if (e.result === 'hit' || e.result === 'coalesced') this.#hits++;
      else if (e.result === 'miss') this.#misses++;
    });
    this.#on(events, 'cache:evict', (e) => {
      this.#cacheEvictions.child(e.reason).inc();
      this.#entries = Math.max(0, this.#entries - 1);
      this.#bytes = Math.max(0, this.#bytes - e.bytes);
      this.#cacheEntries.set(this.#entries);
      this.#cacheBytes.set(this.#bytes);
    });
    this.#on(events, 'rollout:started', () => {
      this.#setRollout('in_progress');
      this.#rolloutProgress.set(0);
      this.#rolloutEvents.child('started').inc();
    });
    this.#on(events, 'rollout:step', (e) => {
      this.#rolloutProgress.set(e.batches > 0 ? e.batch / e.batches : 1);
      this.#rolloutEvents.child('step').inc();
    });
    this.#on(events, 'rollout:completed', () => {
      this.#setRollout('completed');
      this.#rolloutProgress.set(1);
      this.#rolloutEvents.child('completed').inc();
    });
    this.#on(events, 'rollout:rolled-back', () => {
      this.#setRollout('rolled_back');
      this.#rolloutEvents.child('rolled_back').inc();
    });
    this.#on(events, 'rollout:failed', () => {
      this.#setRollout('failed');
      this.#rolloutEvents.child('failed').inc();
    });
    this.#on(events, 'redis', (e) => {
      for (const state of REDIS_STATES) this.#redisState.child(state).set(state === e.state ? 1 : 0);
    });
    this.#on(events, 'backend:removed', (e) => {
      // The backend's series go with it, so ids that come and go (rollouts) never pile up.
      const id = e.backend.id;
      for (const family of this.#backendFamilies) family.drop(id);
      this.#records.delete(id);
      this.#breakers.delete(id);
      this.#backendLabel.release(id);
    });
  }

  /** Stops listening. */
  unsubscribe(_events?: Events): void {
    this.#subscription.abort();
    this.#subscription = new AbortController();
  }

  /** Removes this balancer's metrics from a registry it was given (its own registry is left as is). */
  close(events: Events): void {
    this.unsubscribe(events);
    if (!this.#owned) this.unregister();
  }

  /** Removes every metric this instance registered. */
  unregister(): void {
    for (const name of this.#registered) this.registry.removeSingleMetric(name);
    this.#registered.length = 0;
  }

  /** The JSON summary: counts since the start, latency percentiles over the window. */
  stats(): BalancerStats {
    const now = this.#source.now();
    const backends: BackendStats[] = [];
    for (const b of this.#source.backends()) {
      backends.push(backendStats(b, this.#breakerOf(b), this.#records.get(b.id), now));
    }
    return {
      windowSeconds: this.windowMs / 1000,
      requests: {
        total: this.#total,
        inFlight: this.#source.inflight(),
        statusClasses: classCounts(this.#classes),
        errors: Object.fromEntries(this.#errors),
        latencyMs: this.#window.summary(now),
      },
      retries: this.#retryCount,
      hedges: this.#hedgeCount,
      ejections: this.#ejectionCount,
      rateLimit: { allowed: this.#allowed, limited: this.#limited },
      cache: { hits: this.#hits, misses: this.#misses, entries: this.#entries, bytes: this.#bytes },
      backends,
    };
  }
}

const NO_LATENCY = Object.freeze({ count: 0, mean: 0, p50: 0, p95: 0, p99: 0 });

function backendStats(b: Backend, breaker: BreakerState, record: BackendRecord | undefined, now: number): BackendStats {
  return {
    id: b.id,
    url: b.url.href,
    status: b.status,
    breaker,
    weight: b.weight,
    effectiveWeight: b.effectiveWeight,
    active: b.active,
    requests: b.requests,
    failures: b.failures,
    statusClasses: classCounts(record?.classes ?? new Float64Array(STATUS_CLASSES.length)),
    errors: Object.fromEntries(record?.errors ?? []),
    latencyMs: record ? record.window.summary(now) : { ...NO_LATENCY },
  };
}

/**
 * The summary of a balancer built with `metrics: false`: the pool's live
 * counters only; nothing is recorded, so totals and percentiles are zero and
 * `windowSeconds` is 0.
 *
 * @example
 * ```ts
 * import { poolStats } from './metrics.js';
 * declare const source: import('./metrics.js').MetricsSource;
 * poolStats(source).backends[0]?.active;
 * ```
 */
export function poolStats(source: MetricsSource): BalancerStats {
  const now = source.now();
  const backends: BackendStats[] = [];
  for (const b of source.backends()) backends.push(backendStats(b, b.breakerOpen ? 'open' : 'closed', undefined, now));
  return {
    windowSeconds: 0,
    requests: { total: 0, inFlight: source.inflight(), statusClasses: {}, errors: {}, latencyMs: { ...NO_LATENCY } },
    retries: 0,
    hedges: 0,
    ejections: 0,
    rateLimit: { allowed: 0, limited: 0 },
    cache: { hits: 0, misses: 0, entries: 0, bytes: 0 },
    backends,
  };
}
