import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ms, rate } from './format';
import type { Stats } from './types';

/** Colour-blind-safe line colours (Okabe–Ito). */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442', '#000000'];

interface Line {
  readonly label: string;
  readonly values: readonly (number | null)[];
}

interface ChartProps {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly t: readonly number[];
  readonly lines: readonly Line[];
  /** Seconds shown: the x axis always spans the server's history, ending at the last sample. */
  readonly span: number;
  /** Caption for people and screen readers: the latest values. */
  readonly summary: string;
}

/** One uPlot time-series chart that follows its container's width. */
function Chart({ id, title, unit, t, lines, span, summary }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = lines.map((l) => l.label).join('|');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 180,
      series: [
        {},
        ...lines.map((line, i) => ({
          label: line.label,
          stroke: PALETTE[i % PALETTE.length] as string,
          width: 2,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${unit === 'ms' ? ms(v) : rate(v)}`),
        })),
      ],
      axes: [{}, { label: unit, size: 56 }],
      scales: {
        // A fixed window: with one sample, uPlot would otherwise stretch the axis over years.
        x: {
          time: true,
          range: (_u, _min, max) => {
            const end = Number.isFinite(max) ? max : Date.now() / 1000;
            return [end - span, end];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, (Number.isFinite(max) ? max : 0) * 1.1)] },
      },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const chart = new uPlot(opts, [[...t], ...lines.map((l) => [...l.values])] as uPlot.AlignedData, el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(240, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of lines changes; data flows through setData below.
  }, [shape, unit, span]);

  useEffect(() => {
    plot.current?.setData([[...t], ...lines.map((l) => [...l.values])] as uPlot.AlignedData);
  });

  return (
    <figure class="chart" aria-labelledby={`${id}-title`}>
      <figcaption>
        <h3 id={`${id}-title`}>{title}</h3>
        <p class="chart-summary" data-testid={`${id}-summary`} aria-live="off">
          {summary}
        </p>
      </figcaption>
      <div ref={host} class="chart-canvas" role="img" aria-label={`${title}: ${summary}`} data-points={t.length} />
    </figure>
  );
}

/** Traffic, errors and latency over the history the server keeps. */
export function Charts({ stats }: { stats: Stats }) {
  const s = stats.series;
  const ids = Object.keys(s.backends);
  const minutes = Math.round(stats.historyMs / 60_000);
  const span = stats.historyMs / 1000;
  const last = <T,>(values: readonly T[]): T | undefined => values[values.length - 1];
  return (
    <section aria-labelledby="charts-title" class="panel">
      <h2 id="charts-title">Last {minutes} minutes</h2>
      <div class="charts">
        <Chart
          id="chart-traffic"
          title="Traffic"
          unit="req/s"
          t={s.t}
          span={span}
          lines={[{ label: 'total', values: s.rps }, ...ids.map((id) => ({ label: id, values: s.backends[id] ?? [] }))]}
          summary={`${rate(last(s.rps) ?? 0)} req/s in the last sample, ${rate(stats.totals.rps)} req/s over ${stats.windowMs / 1000} s`}
        />
        <Chart
          id="chart-errors"
          title="Errors"
          unit="err/s"
          t={s.t}
          span={span}
          lines={[{ label: 'errors', values: s.errors }]}
          summary={`${rate(last(s.errors) ?? 0)} errors/s in the last sample`}
        />
        <Chart
          id="chart-latency"
          title="Latency"
          unit="ms"
          t={s.t}
          span={span}
          lines={[
            { label: 'p50', values: s.p50 },
            { label: 'p95', values: s.p95 },
            { label: 'p99', values: s.p99 },
          ]}
          summary={`p50 ${ms(stats.totals.p50)}, p95 ${ms(stats.totals.p95)}, p99 ${ms(stats.totals.p99)} over ${stats.windowMs / 1000} s`}
        />
      </div>
    </section>
  );
}
