/**
 * The one place switchyard reaches into prom-client's internals. Pinned:
 * `prom-client.test.ts` fails when the installed version or the internal
 * changes, so an upgrade is a conscious step.
 *
 * @module
 */
import { Histogram } from 'prom-client';

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

/**
 * A `Histogram` that adds samples of its own to what it exports.
 * prom-client's registry text and `get()` both read the internal
 * `getForPromString()`; this class is the only override of it.
 *
 * @example
 * ```ts
 * class Mine extends HistogramWithExtraValues {
 *   protected extraValues() { return []; }
 * }
 * ```
 */
export abstract class HistogramWithExtraValues extends Histogram<string> {
  /** Samples to export besides prom-client's own (called at every scrape). */
  protected abstract extraValues(): ExportedValue[];

  /** @internal prom-client's export hook. */
  async getForPromString(): Promise<Exported> {
    const own = (Histogram.prototype as unknown as { getForPromString(): Promise<Exported> }).getForPromString;
    const data = await own.call(this);
    data.values.push(...this.extraValues());
    return data;
  }
}
