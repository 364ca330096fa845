import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration } from '../../core/zod.js';

/**
 * Default buckets of the duration histograms, in seconds: 1 ms to 60 s,
 * dense where proxied requests usually land.
 */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Label names the balancer's own metrics use; a default label may not reuse one. */
export const RESERVED_LABELS = new Set([
  'backend',
  'method',
  'status_class',
  'code',
  'reason',
  'state',
  'result',
  'action',
  'limit',
  'decision',
  'event',
  'le',
  'quantile',
]);

function isRegistry(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { registerMetric?: unknown }).registerMetric === 'function' &&
    typeof (value as { metrics?: unknown }).metrics === 'function'
  );
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const bucketsSchema = z
  .array(z.number().finite().positive(), { error: 'an array of bucket bounds in seconds' })
  .min(1)
  .max(50)
  .refine((values) => values.every((value, i) => i === 0 || value > (values[i - 1] as number)), {
    error: 'bucket bounds in strictly increasing order',
  });

/** The `metrics` option. */
export const metricsSchema = z.strictObject({
  /**
   * prom-client `Registry` to register the metrics in (shared with your own
   * metrics). Two balancers sharing one registry need different `prefix`es.
   * @default a new Registry per balancer (never prom-client's global one)
   */
  // abort: false lets the issue surface through the `false | {...}` union with its own path.
  registry: z.custom<Registry>(isRegistry, { error: 'a prom-client Registry', abort: false }).optional(),
  /** Prefix of every metric name. @default 'switchyard_' */
  prefix: z
    .string()
    .regex(/^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/, { error: 'a Prometheus metric name prefix, e.g. "edge_"' })
    .max(64)
    .default('switchyard_'),
  /** Bucket bounds of the duration histograms, in seconds, increasing. @default 1 ms to 60 s (15 bounds) */
  buckets: bucketsSchema.default(() => [...DEFAULT_BUCKETS]),
  /**
   * Labels added to every series of this balancer (e.g. `{ instance: 'edge-1' }`),
   * as real labels, so they never change a shared registry's own settings.
   * At most 16. @default {}
   */
  defaultLabels: z
    .record(z.string(), z.string().max(256))
    .superRefine((labels, ctx) => {
      const names = Object.keys(labels);
      if (names.length > 16) ctx.addIssue({ code: 'custom', message: 'at most 16 labels', path: [] });
      for (const name of names) {
        if (!LABEL_NAME.test(name) || name.startsWith('__') || RESERVED_LABELS.has(name)) {
          ctx.addIssue({
            code: 'custom',
            message: 'a Prometheus label name switchyard does not use itself (not starting with "__")',
            path: [name],
          });
        }
      }
    })
    .default({}),
  /**
   * Bearer token `metricsHandler` requires (`Authorization: Bearer <token>`);
   * without one the handler is open. 1 to 4096 characters.
   */
  token: z.string().min(1).max(4096).optional(),
  /** Span of the sliding window behind `stats()` latency percentiles. 1 s to 1 h. @default '60s' */
  window: duration()
    .refine((ms) => ms >= 1000 && ms <= 3_600_000, { error: 'between 1s and 1h' })
    .default(60_000),
});

/**
 * The `metrics` option, as you pass it (or `false`): Prometheus metrics
 * (prom-client) and the `stats()` latency window. `test/option-types.test.ts`
 * keeps this interface and `metricsSchema` in step.
 *
 * @example
 * ```ts
 * import { type MetricsOptions } from 'switchyard-lb';
 * const metrics: MetricsOptions = { prefix: 'edge_', defaultLabels: { instance: 'edge-1' }, window: '5m' };
 * ```
 */
export interface MetricsOptions {
  /** prom-client `Registry` to register in; two balancers sharing one need different `prefix`es. @default a new Registry per balancer */
  registry?: Registry | undefined;
  /** Prefix of every metric name (a Prometheus name prefix, at most 64 characters). @default 'switchyard_' */
  prefix?: string | undefined;
  /** Bucket bounds of the duration histograms, in seconds, strictly increasing, 1 to 50 of them. @default 1 ms to 60 s (15 bounds) */
  buckets?: number[] | undefined;
  /** Labels added to every series of this balancer, at most 16, not a name switchyard uses itself. @default {} */
  defaultLabels?: Record<string, string> | undefined;
  /** Bearer token `metricsHandler` requires (1 to 4096 characters). @default none: the handler is open */
  token?: string | undefined;
  /** Span of the sliding window behind `stats()` latency percentiles, 1 s to 1 h. @default '60s' */
  window?: Duration | undefined;
}

/** {@link MetricsOptions} after validation and defaults. */
export interface ResolvedMetricsOptions {
  /** The registry given, if any (else the balancer makes one). */
  registry?: Registry | undefined;
  /** Metric name prefix. @default 'switchyard_' */
  prefix: string;
  /** Histogram bucket bounds, seconds. */
  buckets: number[];
  /** Labels on every series. @default {} */
  defaultLabels: Record<string, string>;
  /** Bearer token of `metricsHandler`, if any. */
  token?: string | undefined;
  /** `stats()` window, ms. @default 60000 */
  window: number;
}
