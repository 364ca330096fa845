/**
 * Where the young generation's time goes: runs each contender under the same
 * load with V8's `--trace-gc-nvp` on, and reports over the measured window
 * only the scavenges (how many, how much of what was allocated survived
 * them, their mean and longest pause), the mark-compacts, and the GC pause
 * per second of load. A scavenge's pause grows with what survives it, and
 * those pauses land on the requests in flight: this is the tail-latency side
 * of the allocation figures `npm run bench:profile` gives.
 *
 *   npm run build && npm run bench:gc
 *   GC_ONLY=undici-min,lean GC_DURATION=5 GC_ROUNDS=3 npm run bench:gc
 *
 * Knobs: GC_ONLY (comma-separated: `undici-min`, `lean`, `default`,
 * `policies`; default all four), GC_DURATION (s per round, default 4),
 * GC_ROUNDS (alternating rounds, default 2), BENCH_CONNECTIONS (default 50).
 * Load comes from wrk (required). Loopback only, bounded in time. The
 * switchyard contenders run the built `dist/` (a `dist/` older than `src/`
 * is refused).
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  ask,
  builtEntry,
  contenderHandler,
  hasCommand,
  median,
  reportRoleErrors,
  runWrk,
  serveBackends,
  startRole,
} from './common.ts';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
const MARK = '=== switchyard-gc mark';
const REPORT = '=== switchyard-gc report';

if (role !== undefined) reportRoleErrors();

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'proxy') {
  const ports = JSON.parse(process.argv[3] ?? '[]') as number[];
  const contender = process.argv[4] ?? 'default';
  const targets = ports.map((port) => `http://127.0.0.1:${port}`);
  const { handler } = await contenderHandler(contender, 'undici', targets);
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  server.keepAliveTimeout = 65_000;
  process.on('message', (message) => {
    if (message === 'mark') {
      requests = 0;
      // stdout carries V8's trace lines: the markers bound the measured window in the same stream.
      process.stdout.write(`${MARK}\n`, () => process.send?.({ marked: true }));
    } else if (message === 'report') {
      process.stdout.write(`${REPORT} ${requests}\n`, () => process.send?.({ requests }));
    }
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else {
  await main();
}

/** One window's figures, from the `--trace-gc-nvp` lines between the markers. */
interface Window {
  requests: number;
  seconds: number;
  scavenges: number;
  allocated: number;
  survived: number;
  promoted: number;
  scavengePauses: number[];
  fullGcs: number;
  fullPause: number;
}

/** Parses V8's name=value GC trace lines (`gc=s` scavenge, `gc=mmc`/`mc`/`ms` full) of one window. */
function parseWindow(lines: string[], requests: number, seconds: number): Window {
  const window: Window = {
    requests,
    seconds,
    scavenges: 0,
    allocated: 0,
    survived: 0,
    promoted: 0,
    scavengePauses: [],
    fullGcs: 0,
    fullPause: 0,
  };
  for (const line of lines) {
    const fields = new Map<string, string>();
    for (const token of line.split(' ')) {
      const eq = token.indexOf('=');
      if (eq > 0) fields.set(token.slice(0, eq), token.slice(eq + 1));
    }
    const kind = fields.get('gc');
    const pause = Number(fields.get('pause') ?? 0);
    if (kind === 's' || kind === 'mms') {
      window.scavenges++;
      window.allocated += Number(fields.get('allocated') ?? 0);
      window.survived += Number(fields.get('new_space_survived') ?? 0);
      window.promoted += Number(fields.get('promoted') ?? 0);
      window.scavengePauses.push(pause);
    } else if (kind !== undefined) {
      window.fullGcs++;
      window.fullPause += pause;
    }
  }
  return window;
}

function startProxy(
  ports: number[],
  contender: string,
): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = fork(self, ['proxy', JSON.stringify(ports), contender], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, '--trace-gc-nvp'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const split = text.split('\n');
    partial = split.pop() ?? '';
    lines.push(...split);
  });
  child.stdout?.on('error', () => {});
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`proxy ${contender} exited (${code}) before listening`)));
    child.once('message', (message) => resolve({ child, port: (message as { port: number }).port, lines }));
  });
}

async function measure(ports: number[], contender: string, seconds: number, connections: number): Promise<Window> {
  const proxy = await startProxy(ports, contender);
  proxy.child.removeAllListeners('exit');
  try {
    const url = `http://127.0.0.1:${proxy.port}/bench`;
    await runWrk(url, 1, connections); // warm-up: JIT, pools, heap sizing
    await ask(proxy.child, 'mark');
    await runWrk(url, seconds, connections);
    const { requests } = (await ask(proxy.child, 'report')) as { requests: number };
    const start = proxy.lines.findIndex((line) => line.startsWith(MARK));
    const end = proxy.lines.findIndex((line) => line.startsWith(REPORT));
    return parseWindow(proxy.lines.slice(start + 1, end), requests, seconds);
  } finally {
    proxy.child.kill();
  }
}

async function main(): Promise<void> {
  if (!hasCommand('wrk')) throw new Error('bench:gc needs wrk (apt-get install wrk)');
  const seconds = Number(process.env.GC_DURATION ?? 4);
  const rounds = Number(process.env.GC_ROUNDS ?? 2);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const contenders = (process.env.GC_ONLY ?? 'undici-min,lean,default,policies').split(',').filter(Boolean);
  if (contenders.some((c) => c !== 'undici-min')) builtEntry(); // fail now when dist/ is missing or stale
  const backends = await startRole(self, ['backends']);
  const ports = backends.message.ports as number[];
  const results = new Map<string, Window[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const contender of contenders) {
        const window = await measure(ports, contender, seconds, connections);
        results.set(contender, [...(results.get(contender) ?? []), window]);
      }
    }
  } finally {
    backends.child.kill();
  }
  console.log(
    `\n${rounds} alternating rounds x ${seconds} s, wrk -c${connections}; medians of the rounds (V8 --trace-gc-nvp, measured window only)\n`,
  );
  console.log(
    '| contender | req/s | scavenges | survived, % of allocated | promoted MB/s | mean scavenge pause ms | longest ms | full GCs | GC pause ms per s |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [contender, windows] of results) {
    const pick = (f: (w: Window) => number) => median(windows.map(f));
    const total = (w: Window) => w.scavengePauses.reduce((s, p) => s + p, 0);
    console.log(
      `| ${contender} | ${pick((w) => w.requests / w.seconds).toFixed(0)} | ${pick((w) => w.scavenges)} | ` +
        `${pick((w) => (100 * w.survived) / Math.max(w.allocated, 1)).toFixed(1)} | ` +
        `${pick((w) => w.promoted / 1e6 / w.seconds).toFixed(2)} | ` +
        `${pick((w) => total(w) / Math.max(w.scavenges, 1)).toFixed(1)} | ` +
        `${pick((w) => Math.max(0, ...w.scavengePauses)).toFixed(1)} | ${pick((w) => w.fullGcs)} | ` +
        `${pick((w) => (total(w) + w.fullPause) / w.seconds).toFixed(1)} |`,
    );
  }
}
