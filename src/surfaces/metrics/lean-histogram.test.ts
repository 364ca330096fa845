import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLeanHistogram } from './lean-histogram.js';

const buckets = [0.01, 0.1, 1];

/** Exposition lines with each label set sorted, so label order does not matter. */
function normalized(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([^{ ]+)(?:\{(.*)\})? (.+)$/.exec(line);
      if (!match) return line;
      const labels = (match[2] ?? '')
        .split(/,(?=\w+=")/)
        .filter(Boolean)
        .sort()
        .join(',');
      return `${match[1]}{${labels}} ${match[3]}`;
    })
    .sort();
}

function pair() {
  const lean = new Registry();
  const plain = new Registry();
  const config = { name: 'd_seconds', help: 'd', labelNames: ['backend'], buckets };
  const a = createLeanHistogram({ ...config, registers: [lean] });
  const b = new Histogram({ ...config, registers: [plain] });
  return { lean, plain, a, b };
}

describe('LeanHistogram', () => {
  it("exports exactly what prom-client's own histogram exports for the same observations", async () => {
    const { lean, plain, a, b } = pair();
    const values: Array<[string, number]> = [
      ['a', 0.005],
      ['a', 0.01],
      ['a', 0.5],
      ['a', 7],
      ['b', 0.2],
    ];
    for (const [backend, value] of values) {
      a.series({ backend }).observe(value);
      b.labels(backend).observe(value);
    }
    expect(normalized(await lean.metrics())).toEqual(normalized(await plain.metrics()));
    const [leanJson] = await lean.getMetricsAsJSON();
    const [plainJson] = await plain.getMetricsAsJSON();
    const sortValues = (json: typeof leanJson) =>
      json?.values
        .map((v) =>
          JSON.stringify([(v as { metricName?: string }).metricName, Object.entries(v.labels).sort(), v.value]),
        )
        .sort();
    expect(sortValues(leanJson)).toEqual(sortValues(plainJson));
  });

  it('hands out one series per label set', () => {
    const { a } = pair();
    expect(a.series({ backend: 'a' })).toBe(a.series({ backend: 'a' }));
    expect(a.series({ backend: 'a' })).not.toBe(a.series({ backend: 'b' }));
  });

  it('ignores non-finite values', () => {
    const { a } = pair();
    const series = a.series({ backend: 'a' });
    series.observe(Number.NaN);
    series.observe(Number.POSITIVE_INFINITY);
    expect(series.count).toBe(0);
  });

  it('removes a series and resets all', async () => {
    const { lean, a } = pair();
    a.series({ backend: 'a' }).observe(0.1);
    a.series({ backend: 'b' }).observe(0.1);
    a.remove({ backend: 'a' });
    let text = await lean.metrics();
    expect(text).not.toContain('backend="a"');
    expect(text).toContain('backend="b"');
    lean.resetMetrics();
    text = await lean.metrics();
    expect(text).not.toContain('backend="b"');
  });

  it('still exports observations made through the ordinary prom-client API', async () => {
    const { lean, a } = pair();
    a.labels('c').observe(0.05);
    a.series({ backend: 'd' }).observe(0.05);
    const text = await lean.metrics();
    expect(text).toContain('d_seconds_count{backend="c"} 1');
    expect(text).toContain('d_seconds_count{backend="d"} 1');
  });
});
