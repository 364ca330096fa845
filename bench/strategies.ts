/**
 * Strategy micro-benchmark: picks per second for every built-in strategy at
 * 10, 1,000 and 10,000 backends, plus ring/table build times. Not a test.
 *
 *   npm run bench:strategies
 *   BENCH_SCALE=0.2 npm run bench:strategies   # quicker
 *
 * Candidates are plain objects implementing `Candidate`; requests are fake
 * `IncomingMessage`s with headers; contexts are made before timing, so the
 * loop measures `pick` alone. Each row: warm up, then a fixed number of
 * picks timed with `process.hrtime.bigint()`, best of 3 runs.
 */
import type { IncomingMessage } from 'node:http';

const { createStrategy, seededRandom } = await import('../src/upstream/strategies/index.ts');
type Candidate = import('../src/upstream/strategies/index.ts').Candidate;
type SelectionContext = import('../src/upstream/strategies/index.ts').SelectionContext;
type StrategyOption = import('../src/upstream/strategies/index.ts').StrategyOption;
type Strategy = import('../src/upstream/strategies/index.ts').Strategy;

const SIZES = [10, 1_000, 10_000] as const;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
/** Picks timed per run, per backend count: fixed, so rows are comparable. */
const PICKS: Record<(typeof SIZES)[number], number> = {
  10: Math.round(1_000_000 * SCALE),
  1000: Math.round(200_000 * SCALE),
  10000: Math.round(50_000 * SCALE),
};
const RUNS = 3;

interface Row {
  label: string;
  option: StrategyOption;
  /** Leave the backend at this fraction of the list out of the candidates (a failed one). */
  excludeOne?: boolean;
  complexity: string;
}

const ROWS: Row[] = [
  { label: 'p2c (default)', option: 'p2c', complexity: 'O(1)' },
  { label: 'round-robin', option: 'round-robin', complexity: 'O(1)' },
  { label: 'random', option: 'random', complexity: 'O(1)' },
  { label: 'weighted-round-robin', option: 'weighted-round-robin', complexity: 'O(n) inherent: every credit moves' },
  { label: 'weighted-random', option: 'weighted-random', complexity: 'O(n): live weights (slow start)' },
  { label: 'least-connections', option: 'least-connections', complexity: 'O(n) inherent: scan for the min' },
  { label: 'least-response-time', option: 'least-response-time', complexity: 'O(n) inherent: scan for the min' },
  { label: 'consistent-hash ip', option: { name: 'consistent-hash', key: 'ip' }, complexity: 'O(log points)' },
  {
    label: 'consistent-hash cookie',
    option: { name: 'consistent-hash', key: { cookie: 'session' } },
    complexity: 'O(log points)',
  },
  {
    label: 'consistent-hash 1.25 bound',
    option: { name: 'consistent-hash', balanceFactor: 1.25 },
    complexity: 'O(log points) + O(n) load sum when busy',
  },
  {
    label: 'consistent-hash, 1 failed',
    option: { name: 'consistent-hash' },
    excludeOne: true,
    complexity: 'O(log points) + O(failed) window',
  },
  { label: 'maglev ip', option: { name: 'maglev' }, complexity: 'O(1)' },
  { label: 'maglev, 1 failed', option: { name: 'maglev' }, excludeOne: true, complexity: 'O(1) + O(failed) window' },
];

interface BenchBackend extends Candidate {
  active: number;
}

function makeBackends(n: number): BenchBackend[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `backend-${i}`,
    weight: 1 + (i % 3),
    effectiveWeight: 1 + (i % 3),
    active: i % 7,
  }));
}

const CONTEXTS = 4096;
function makeContexts(): SelectionContext[] {
  const random = seededRandom(1);
  return Array.from({ length: CONTEXTS }, (_, i) => {
    const ip = `10.${(i >> 8) & 255}.${i & 255}.${Math.floor(random() * 256)}`;
    const req = {
      headers: {
        host: 'example.test',
        'user-agent': 'bench/1.0',
        'x-user': `user-${i}`,
        cookie: `theme=dark; session=${Math.floor(random() * 1e9).toString(36)}; lang=en`,
      },
    } as unknown as IncomingMessage;
    return { req, clientAddress: ip, now: i, attempt: 1 };
  });
}

function timePicks(strategy: Strategy, candidates: readonly Candidate[], contexts: SelectionContext[], picks: number) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < picks; i++) {
    const picked = strategy.pick(candidates, contexts[i & (CONTEXTS - 1)]!);
    sink += picked === undefined ? 0 : picked.active;
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink < 0) console.log(sink); // keep the result alive
  return ns;
}

function fmtRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`;
  return `${perSecond.toFixed(0)} /s`;
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

const contexts = makeContexts();
const table: string[][] = [];
const builds: string[][] = [];

for (const row of ROWS) {
  const cells: string[] = [];
  for (const n of SIZES) {
    const backends = makeBackends(n);
    const strategy = createStrategy(row.option, { random: seededRandom(7) });
    const buildStart = process.hrtime.bigint();
    strategy.update?.(backends);
    const buildNs = Number(process.hrtime.bigint() - buildStart);
    if (row.label === 'consistent-hash ip' || row.label === 'maglev ip') {
      builds.push([row.label, `n=${n.toLocaleString('en')}`, fmtNs(buildNs)]);
    }
    // Latency history, so p2c and least-response-time run their steady-state path.
    for (let i = 0; i < backends.length; i++) {
      strategy.observe?.(backends[i]!, { latencyMs: 5 + (i % 13), ok: true, now: i });
    }
    const candidates = row.excludeOne ? backends.filter((_, i) => i !== Math.floor(n / 2)) : backends;
    const picks = PICKS[n];
    timePicks(strategy, candidates, contexts, Math.max(1000, Math.floor(picks / 5))); // warm up
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < RUNS; r++) best = Math.min(best, timePicks(strategy, candidates, contexts, picks));
    const perPick = best / picks;
    cells.push(`${fmtRate(1e9 / perPick)} (${fmtNs(perPick)})`);
    strategy.close?.();
  }
  table.push([row.label, ...cells, row.complexity]);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

console.log(
  `\nPicks per second (ns per pick), best of ${RUNS}; picks timed: ${SIZES.map((n) => `${PICKS[n]} at n=${n}`).join(', ')}`,
);
console.log(`Node ${process.version}, ${process.platform}/${process.arch}\n`);
printTable(['strategy', 'n=10', 'n=1,000', 'n=10,000', 'per-pick cost'], table);
console.log('\nBuild time of update() (ring: 160 points per weight unit, weights 1-3; Maglev: M = 65537)\n');
printTable(['strategy', 'backends', 'update()'], builds);
console.log(
  '\nO(n) rows are inherent to their algorithm (smooth WRR moves every credit; least-* must see every' +
    ' candidate; weighted-random reads live weights). At thousands of backends use p2c (O(1)) or maglev.',
);
