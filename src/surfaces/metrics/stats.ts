import type { BackendStatus } from '../../core/backend.js';
import type { LatencySummary } from './latency-window.js';

export type { LatencySummary };

/** Where a backend's circuit breaker stands. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Counts by status class: `'1xx'` to `'5xx'`, and `'other'`. */
export type StatusClassCounts = Record<string, number>;

/** One backend in {@link BalancerStats}. */
export interface BackendStats {
  id: string;
  url: string;
  status: BackendStatus;
  breaker: BreakerState;
  weight: number;
  effectiveWeight: number;
  /** Requests in flight at this backend now. */
  active: number;
  /** Attempts sent since it joined. */
  requests: number;
  /** Attempts that failed since it joined (connect failure, reset, timeout, 5xx). */
  failures: number;
  /** Client requests it served (last attempt), by status class, since metrics began. */
  statusClasses: StatusClassCounts;
  /** Failed attempts by error code, since metrics began. */
  errors: Record<string, number>;
  /** Time to response headers over the stats window, ms. */
  latencyMs: LatencySummary;
}

/**
 * The JSON summary returned by `lb.stats()` and served by `metricsHandler`
 * at `?format=json`. Counts run from when the balancer was built; latency
 * percentiles cover the sliding window (`metrics.window`, 60 s by default).
 */
export interface BalancerStats {
  /** Length of the latency window, seconds. */
  windowSeconds: number;
  requests: {
    /** Client requests finished. */
    total: number;
    /** Client requests in flight now. */
    inFlight: number;
    statusClasses: StatusClassCounts;
    /** Requests the balancer ended with an error, by code (`ERR_NO_BACKEND`...). */
    errors: Record<string, number>;
    /** Client-facing duration over the window (first byte in to last byte out), ms. */
    latencyMs: LatencySummary;
  };
  /** Retries sent. */
  retries: number;
  /** Hedged attempts sent. */
  hedges: number;
  /** Outlier ejections. */
  ejections: number;
  /** Rate-limit decisions. */
  rateLimit: { allowed: number; limited: number };
  /** Cache lookups and what the cache holds now. */
  cache: { hits: number; misses: number; entries: number; bytes: number };
  backends: BackendStats[];
}
