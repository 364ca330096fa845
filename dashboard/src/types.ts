/** The admin API's JSON shapes, as far as the dashboard reads them. */

export type BackendStatus = 'healthy' | 'unhealthy' | 'ejected' | 'open' | 'draining';

export interface Backend {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly maxConnections: number | null;
  readonly status: BackendStatus;
  readonly active: number;
  readonly requests: number;
  readonly failures: number;
  readonly latencyMs: number;
}

export interface Figures {
  readonly rps: number;
  readonly errorRate: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface BackendFigures extends Figures {
  readonly id: string;
  readonly health: 'healthy' | 'unhealthy';
  readonly breaker: 'closed' | 'open' | 'half-open';
  readonly ejected: boolean;
  readonly ejections: number;
}

export interface Stats {
  readonly sampleMs: number;
  readonly windowMs: number;
  readonly historyMs: number;
  readonly totals: Figures;
  readonly backends: readonly BackendFigures[];
  readonly series: {
    readonly t: number[];
    readonly rps: number[];
    readonly errors: number[];
    readonly p50: (number | null)[];
    readonly p95: (number | null)[];
    readonly p99: (number | null)[];
    readonly backends: Record<string, number[]>;
  };
}

export interface LiveEvent {
  readonly seq: number;
  readonly time: string;
  readonly type: string;
  readonly backend?: string;
  readonly message: string;
}

export interface RolloutStep {
  readonly batch: number;
  readonly batches: number;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly requests: number;
  readonly failures: number;
  readonly errorRate: number;
  readonly p99LatencyMs?: number;
}

export interface Rollout {
  readonly id: string;
  readonly status: string;
  readonly phase: string;
  readonly batch: number;
  readonly batches: number;
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly steps: readonly RolloutStep[];
  readonly reason?: string;
  readonly rolledBack: boolean;
}

/** A JSON value as `GET /config` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface SessionInfo {
  readonly csrfToken: string;
  readonly expiresAt: string;
  readonly idleTimeoutMs: number;
}

/** What a router's admin may add: routes to named pools (shown when the API offers them). */
export interface RouteInfo {
  readonly name?: string;
  readonly id?: string;
  readonly pool?: string;
  readonly match?: Json;
  readonly [key: string]: Json | undefined;
}
