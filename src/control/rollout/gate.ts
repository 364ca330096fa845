import type { BackendStatus } from '../../core/backend.js';
import type { HealthGate } from './options.js';

/** What the gate reads of a backend (the pool's `Backend` has it all). */
export interface GateBackend {
  readonly id: string;
  /** Attempts started since the backend joined. */
  readonly requests: number;
  /** Attempts in flight. */
  readonly active: number;
  /** Attempts that failed: connect failure, reset, timeout, 5xx. */
  readonly failures: number;
  readonly status: BackendStatus;
}

/** What a batch showed during its window. */
export interface GateStats {
  /** Attempts the batch's backends finished during the window. */
  readonly requests: number;
  /** Of those, failed ones. */
  readonly failures: number;
  /** `failures / requests` (0 without requests). */
  readonly errorRate: number;
  /** p99 (nearest rank) of the client requests they served, in ms; `undefined` without any. */
  readonly p99LatencyMs: number | undefined;
}

/**
 * The gate's answer: still judging, passed, or failed with a reason;
 * `lowTraffic` when the only fault is too few attempts (and the health-check
 * evidence, if the policy consults it, did not make up for it).
 */
export type GateVerdict =
  | { readonly state: 'pending' | 'pass' }
  | { readonly state: 'fail'; readonly reason: string; readonly lowTraffic?: boolean };

const PENDING: GateVerdict = Object.freeze({ state: 'pending' });
const PASS: GateVerdict = Object.freeze({ state: 'pass' });
/** Latency samples kept per window; beyond, a uniform reservoir sample (Vitter's algorithm R). */
const MAX_SAMPLES = 10_000;

/**
 * One batch's observation window. Error counts come from the backends' own
 * counters (attempt level: a failure retried elsewhere still counts against
 * the backend that failed), as differences from the window's start; latency
 * from the `request` events of the client requests they served.
 *
 * @example
 * ```ts
 * import { GateWindow } from './gate.js';
 * declare const c: import('./gate.js').GateBackend;
 * const window = new GateWindow([c], [c], { maxErrorRate: 0.05, minRequests: 10, lowTraffic: 'wait', trafficWait: 300_000 });
 * lb.on('request', (e) => e.backend === 'c' && window.latency(e.durationMs));
 * // ...later
 * window.verdict(true); // { state: 'pass' } or { state: 'fail', reason }
 * ```
 */
export class GateWindow {
  readonly #batch: readonly GateBackend[];
  readonly #watched: readonly GateBackend[];
  readonly #gate: HealthGate;
  readonly #random: () => number;
  readonly #baseDone: number;
  readonly #baseFailures: number;
  readonly #samples: number[] = [];
  #seen = 0;
  /** Active health checks of the batch's backends during the window: passed per id, and any failure. */
  readonly #checksPassed = new Set<string>();
  #checkFailed: string | undefined;
  #checksOn = false;

  /**
   * @param batch the backends judged by error rate and latency.
   * @param watched every backend the rollout added so far: any of them turning
   *   unhealthy, ejected, open or draining fails the gate at once.
   */
  constructor(
    batch: readonly GateBackend[],
    watched: readonly GateBackend[],
    gate: HealthGate,
    random: () => number = Math.random,
  ) {
    this.#batch = batch;
    this.#watched = watched;
    this.#gate = gate;
    this.#random = random;
    this.#baseDone = this.#done();
    this.#baseFailures = this.#failures();
  }

  /**
   * An active health check of `backend` finished during the window (only the
   * batch's backends count); tells the window health checks are on.
   */
  check(backend: string, ok: boolean, reason?: string): void {
    if (!this.#batch.some((b) => b.id === backend)) return;
    this.#checksOn = true;
    if (ok) this.#checksPassed.add(backend);
    else this.#checkFailed ??= `${backend}${reason ? ` (${reason})` : ''}`;
  }

  /** Health checks are on for this window's backends (evidence for `lowTraffic: 'health-checks'`). */
  healthChecks(on: boolean): void {
    this.#checksOn = on;
  }

  /** A client request served by one of the batch's backends finished after `ms`. */
  latency(ms: number): void {
    this.#seen++;
    if (this.#samples.length < MAX_SAMPLES) this.#samples.push(ms);
    else {
      const slot = Math.floor(this.#random() * this.#seen);
      if (slot < MAX_SAMPLES) this.#samples[slot] = ms;
    }
  }

  stats(): GateStats {
    const requests = this.#done() - this.#baseDone;
    const failures = this.#failures() - this.#baseFailures;
    return {
      requests,
      failures,
      // A failure is counted when its answer arrives, the attempt as finished a moment later.
      errorRate: requests > 0 ? Math.min(1, failures / requests) : 0,
      p99LatencyMs: percentile(this.#samples, 0.99),
    };
  }

  /**
   * Judges the window: during it (`final` false) it fails early on a sick
   * backend or once `minRequests` attempts show too many errors; at its end
   * it also needs `minRequests` and the latency limit.
   */
  verdict(final: boolean): GateVerdict {
    for (const backend of this.#watched) {
      const status = backend.status;
      if (status === 'healthy') continue;
      if (status === 'draining') return fail(`backend ${backend.id} was removed during the rollout`);
      return fail(`backend ${backend.id} is ${status}`);
    }
    const gate = this.#gate;
    const stats = this.stats();
    if (stats.requests >= gate.minRequests && stats.requests > 0 && stats.errorRate > gate.maxErrorRate) {
      return fail(
        `error rate ${round(stats.errorRate)} above ${gate.maxErrorRate} (${stats.failures} of ${stats.requests} attempts)`,
      );
    }
    if (!final) return PENDING;
    if (stats.requests < gate.minRequests) {
      const short = `insufficient traffic: ${stats.requests} of ${gate.minRequests} attempts needed`;
      if (gate.lowTraffic !== 'health-checks') return { state: 'fail', reason: short, lowTraffic: true };
      if (!this.#checksOn)
        return { state: 'fail', reason: `${short}, and no active health checks to judge by`, lowTraffic: true };
      if (this.#checkFailed !== undefined) {
        return fail(`${short}, and a health check of ${this.#checkFailed} failed during the window`);
      }
      const unchecked = this.#batch.filter((b) => !this.#checksPassed.has(b.id)).map((b) => b.id);
      if (unchecked.length > 0) {
        return {
          state: 'fail',
          reason: `${short}, and no passed health check of ${unchecked.join(', ')} during the window`,
          lowTraffic: true,
        };
      }
    }
    if (gate.maxLatencyMs !== undefined && stats.p99LatencyMs !== undefined && stats.p99LatencyMs > gate.maxLatencyMs) {
      return fail(`p99 latency ${round(stats.p99LatencyMs)} ms above ${gate.maxLatencyMs} ms`);
    }
    return PASS;
  }

  #done(): number {
    let sum = 0;
    for (const b of this.#batch) sum += b.requests - b.active;
    return sum;
  }

  #failures(): number {
    let sum = 0;
    for (const b of this.#batch) sum += b.failures;
    return sum;
  }
}

function fail(reason: string): GateVerdict {
  return { state: 'fail', reason };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Nearest-rank percentile `q` (0 to 1) of `values`; `undefined` when empty.
 *
 * @example
 * ```ts
 * import { percentile } from './gate.js';
 * percentile([5, 1, 3], 0.5); // 3
 * ```
 */
export function percentile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}
