/**
 * The one place switchyard reaches into prom-client's internals. Pinned:
 * `prom-client.test.ts` fails when the installed version or the internal
 * changes, so an upgrade is a conscious step.
 *
 * @module
 */
import type { Histogram, HistogramConfiguration } from 'prom-client';
import { promClient } from './dependencies.js';

/** The prom-client version this file was written against. */
export const PROM_CLIENT_VERSION = '15.1.3';

/** One exported sample, in prom-client's internal export shape. */
export interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
}

type Exported = { values: unknown[] };

/** A `Histogram` that adds samples of its own to what it exports: see {@link histogramWithExtraValues}. */
export interface HistogramWithExtraValues extends Histogram<string> {
  /** prom-client's export hook. */
  getForPromString(): Promise<Exported>;
}

/** Constructor of a {@link HistogramWithExtraValues} subclass; subclasses implement `extraValues()`. */
export type HistogramWithExtraValuesClass = abstract new (
  config: HistogramConfiguration<string>,
) => HistogramWithExtraValues & {
  /** Samples to export besides prom-client's own (called at every scrape). */
  extraValues(): ExportedValue[];
};

let base: HistogramWithExtraValuesClass | undefined;

/**
 * The base class of histograms that add samples of their own to what they
 * export. prom-client's registry text and `get()` both read the internal
 * `getForPromString()`; this class is the only override of it. Made on first
 * use, so prom-client loads only when metrics are on.
 *
 * @example
 * ```ts
 * import { histogramWithExtraValues } from './prom-client.js';
 * class Mine extends histogramWithExtraValues() {
 *   override extraValues() { return []; }
 * }
 * ```
 */
export function histogramWithExtraValues(): HistogramWithExtraValuesClass {
  if (base) return base;
  const { Histogram } = promClient();
  abstract class Base extends Histogram<string> {
    abstract extraValues(): ExportedValue[];

    async getForPromString(): Promise<Exported> {
      const own = (Histogram.prototype as unknown as { getForPromString(): Promise<Exported> }).getForPromString;
      const data = await own.call(this);
      data.values.push(...this.extraValues());
      return data;
    }
  }
  base = Base;
  return base;
}
