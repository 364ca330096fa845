import type { Histogram, HistogramConfiguration } from 'prom-client';
import { promClient } from '../../vendor/dependencies.js';
import { type ExportedValue, histogramWithExtraValues } from '../../vendor/prom-client.js';

/**
 * One label set of a {@link LeanHistogram}: bucket counts in a typed array,
 * so an observation is a short scan of the bounds and three additions, with
 * no allocation, label validation or hashing.
 */
export class LeanSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly #bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Readonly<Record<string, string>>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  /** Records one value (seconds); a non-finite one is ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

function sample(
  series: LeanSeries,
  extra: Record<string, string | number>,
  value: number,
  metricName: string,
): ExportedValue {
  return { labels: { ...series.labels, ...extra }, sharedLabels: {}, value, metricName };
}

/**
 * A prom-client `Histogram` whose labelled series live in {@link LeanSeries}
 * (from {@link series}) instead of prom-client's per-observation path, which
 * allocates, validates and hashes the labels on every call. It registers,
 * exports, resets and removes like any prom-client histogram; observations
 * through the ordinary `observe`/`labels` API still work and are exported
 * alongside.
 *
 * @example
 * ```ts
 * import { createLeanHistogram } from './lean-histogram.js';
 * declare const registry: import('prom-client').Registry;
 * const h = createLeanHistogram({ name: 'x_seconds', help: 'x', labelNames: ['backend'], buckets: [0.1, 1], registers: [registry] });
 * h.series({ backend: 'a' }).observe(0.05);
 * ```
 */
export interface LeanHistogram extends Histogram<string> {
  /** The series for a full label set, created once. */
  series(labels: Readonly<Record<string, string>>): LeanSeries;
}

/**
 * Options of {@link createLeanHistogram}: prom-client's, with the buckets required.
 *
 * @example
 * ```ts
 * import { type LeanHistogramConfiguration } from './lean-histogram.js';
 * const config: LeanHistogramConfiguration = { name: 'x_seconds', help: 'x', buckets: [0.1, 1] };
 * ```
 */
export type LeanHistogramConfiguration = HistogramConfiguration<string> & { buckets: number[] };

type LeanHistogramClass = new (config: LeanHistogramConfiguration) => LeanHistogram;
let leanHistogramClass: LeanHistogramClass | undefined;

/**
 * Makes a {@link LeanHistogram} (prom-client loads on the first call).
 *
 * @example
 * ```ts
 * import { createLeanHistogram } from './lean-histogram.js';
 * declare const registry: import('prom-client').Registry;
 * const h = createLeanHistogram({ name: 'x_seconds', help: 'x', buckets: [0.1, 1], registers: [registry] });
 * ```
 */
export function createLeanHistogram(config: LeanHistogramConfiguration): LeanHistogram {
  leanHistogramClass ??= defineLeanHistogram();
  return new leanHistogramClass(config);
}

/**
 * Whether `metric` was made by {@link createLeanHistogram}.
 *
 * @example
 * ```ts
 * import { isLeanHistogram } from './lean-histogram.js';
 * declare const metric: import('prom-client').Metric;
 * if (isLeanHistogram(metric)) metric.series({ backend: 'a' }).observe(0.1);
 * ```
 */
export function isLeanHistogram(metric: unknown): metric is LeanHistogram {
  return leanHistogramClass !== undefined && metric instanceof leanHistogramClass;
}

// The class is defined when the first one is made, so prom-client loads only with metrics on.
function defineLeanHistogram(): LeanHistogramClass {
  const { Histogram } = promClient();
  return class LeanHistogram extends histogramWithExtraValues() {
    // A plain field, not #private: prom-client's constructor calls reset() before fields exist.
    private lean: Map<string, LeanSeries> | undefined = new Map();
    private readonly bounds: readonly number[];
    private readonly names: readonly string[];

    constructor(config: LeanHistogramConfiguration) {
      super(config);
      this.bounds = [...config.buckets];
      this.names = [...(config.labelNames ?? [])];
    }

    #key(labels: Partial<Record<string, string | number>>): string {
      return this.names.map((name) => String(labels[name] ?? '')).join('\u0000');
    }

    /** The series for a full label set, created once. */
    series(labels: Readonly<Record<string, string>>): LeanSeries {
      const key = this.#key(labels);
      let series = this.lean?.get(key);
      if (!series) {
        series = new LeanSeries(labels, this.bounds);
        this.lean?.set(key, series);
      }
      return series;
    }

    /** prom-client's export shape: labels apart from `sharedLabels` (here empty), metric name per sample. */
    override extraValues(): ExportedValue[] {
      const out: ExportedValue[] = [];
      const name = (this as unknown as { name: string }).name;
      for (const series of this.lean?.values() ?? []) {
        let cumulative = 0;
        for (let i = 0; i < this.bounds.length; i++) {
          cumulative += series.counts[i] as number;
          out.push(sample(series, { le: this.bounds[i] as number }, cumulative, `${name}_bucket`));
        }
        out.push(sample(series, { le: '+Inf' }, series.count, `${name}_bucket`));
        out.push(sample(series, {}, series.sum, `${name}_sum`));
        out.push(sample(series, {}, series.count, `${name}_count`));
      }
      return out;
    }

    override reset(): void {
      super.reset();
      this.lean?.clear();
    }

    override remove(...args: unknown[]): void {
      (Histogram.prototype.remove as (...a: unknown[]) => void).apply(this, args);
      const labels =
        typeof args[0] === 'object' && args[0] !== null
          ? (args[0] as Record<string, string>)
          : Object.fromEntries(this.names.map((n, i) => [n, args[i] as string]));
      this.lean?.delete(this.#key(labels));
    }
  };
}
