import { createRequire } from 'node:module';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type ExportedValue, histogramWithExtraValues, PROM_CLIENT_VERSION } from './prom-client.js';

const { version } = createRequire(import.meta.url)('prom-client/package.json') as { version: string };

class Extra extends histogramWithExtraValues() {
  override extraValues(): ExportedValue[] {
    return [{ labels: { le: '+Inf', k: 'v' }, sharedLabels: {}, value: 7, metricName: 'x_seconds_bucket' }];
  }
}

describe('prom-client internals (pinned)', () => {
  it('is the version src/vendor/prom-client.ts was written against', () => {
    expect(version).toBe(PROM_CLIENT_VERSION);
  });

  it('exports a histogram through getForPromString, for the text format and get()', async () => {
    expect(typeof (Histogram.prototype as unknown as { getForPromString?: unknown }).getForPromString).toBe('function');
    const registry = new Registry();
    const h = new Extra({ name: 'x_seconds', help: 'x', labelNames: ['k'], buckets: [1], registers: [registry] });
    expect(await registry.metrics()).toContain('x_seconds_bucket{le="+Inf",k="v"} 7');
    expect((await h.get()).values).toContainEqual(
      expect.objectContaining({ value: 7, metricName: 'x_seconds_bucket' }),
    );
  });
});
