/**
 * Proxy benchmark: every contender side by side in one run, against the same
 * two loopback backends, driven by the same load (wrk when installed,
 * autocannon otherwise), in alternating rounds.
 *
 *   npm run bench                                   # 3 rounds x 4 s per contender (under 5 minutes)
 *   BENCH_DURATION=2 BENCH_ROUNDS=1 npm run bench   # quick look while developing
 *   BENCH_ONLY=undici-min,bare,default npm run bench
 *   BENCH_BASELINE=node_modules/.cache/dist-main BENCH_ONLY=lean,lean@baseline npm run bench
 *
 * Knobs: BENCH_DURATION (s per round, default 4), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (default 50), BENCH_WARMUP (s, default 1), BENCH_ONLY
 * (comma-separated contender keys, see `CONTENDERS`), BENCH_LOAD (`wrk` or
 * `autocannon`), BENCH_OUT (JSON file, default bench/results/proxy.json),
 * BENCH_BASELINE (an older build's `dist/`, copied inside this checkout so
 * its imports resolve: every switchyard contender also runs on it, as
 * `<key>@baseline`, in the same rounds).
 *
 * The switchyard contenders load the built `dist/` (run `npm run build`
 * first; the bench refuses a `dist/` older than `src/`).
 *
 * Backends, each proxy and the load generator run in separate processes.
 * Loopback only; every run is bounded in time; nginx (when installed) runs as
 * a child with a generated config and is stopped with it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ask,
  builtEntry,
  contenderHandler,
  freePort,
  hasCommand,
  type LoadResult,
  median,
  type Profile,
  runLoad,
  serveBackends,
  serveMeasured,
  startRole,
} from './common.ts';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];

/** Switchyard profiles: which features are on. */
type ForwarderName = 'undici' | 'http-proxy-3';

interface Contender {
  key: string;
  label: string;
  /** Path the load asks for: `/bench` answers `no-store`, `/cacheable` may be cached. */
  path: string;
  kind: 'direct' | 'nginx' | 'undici-min' | 'bare' | 'switchyard';
  profile?: Profile;
  forwarder?: ForwarderName;
  /** A baseline build's `dist/` this contender loads instead of this checkout's (`BENCH_BASELINE`). */
  dist?: string;
}

const PROFILES: Record<Profile, string> = {
  lean: 'switchyard lean (select + forward only)',
  default: 'switchyard defaults',
  policies: 'switchyard, rate limit + sticky + cache (miss path)',
  cache: 'switchyard, cache hits',
};

const CONTENDERS: Contender[] = [
  { key: 'direct', label: 'backends directly', path: '/bench', kind: 'direct' },
  { key: 'nginx', label: 'nginx, 1 worker, upstream keep-alive', path: '/bench', kind: 'nginx' },
  { key: 'undici-min', label: 'minimal undici Pool proxy', path: '/bench', kind: 'undici-min' },
  { key: 'bare', label: 'bare http-proxy-3, keep-alive agent', path: '/bench', kind: 'bare' },
  ...(['undici', 'http-proxy-3'] as const).flatMap((forwarder) =>
    (['lean', 'default', 'policies', 'cache'] as const).map(
      (profile): Contender => ({
        key: forwarder === 'undici' ? profile : `${profile}@http-proxy-3`,
        label: PROFILES[profile],
        path: profile === 'cache' ? '/cacheable' : '/bench',
        kind: 'switchyard',
        profile,
        forwarder,
      }),
    ),
  ),
];

// BENCH_BASELINE=<a copy of an older dist/ inside this checkout>: each switchyard contender runs a second
// time on that build, as `<key>@baseline`, in the same rounds (before/after side by side, under the same load).
const baseline = process.env.BENCH_BASELINE;
if (baseline) {
  const dist = resolve(baseline);
  for (const c of CONTENDERS.filter((c) => c.kind === 'switchyard')) {
    CONTENDERS.push({ ...c, key: `${c.key}@baseline`, label: `${c.label} (baseline build)`, dist });
  }
}

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'proxy') {
  await serveProxy(JSON.parse(process.argv[3] ?? '{}') as Contender, JSON.parse(process.argv[4] ?? '[]') as number[]);
} else {
  await main();
}

async function serveProxy(contender: Contender, ports: number[]): Promise<void> {
  const targets = ports.map((port) => `http://127.0.0.1:${port}`);
  if (contender.dist) process.env.BENCH_DIST = contender.dist;
  const name = contender.kind === 'switchyard' ? (contender.profile ?? 'default') : contender.kind;
  const { handler } = await contenderHandler(name, contender.forwarder ?? 'undici', targets);
  // CPU time per request of this process: a figure a loaded machine disturbs far less than req/s.
  serveMeasured(handler);
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** nginx as a child: one worker, no daemon, upstream keep-alive, a generated config in a temp dir. */
async function startNginx(ports: number[]): Promise<{ port: number; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-nginx-'));
  const port = await freePort();
  const servers = ports.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backends {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  const stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, Date.now() + 5000);
  } catch (error) {
    stop();
    throw error;
  }
  return { port, stop };
}

interface Result extends LoadResult {
  /** CPU time of the proxy process per request, in µs (unset for nginx and the backends). */
  cpuUs?: number;
}

async function main(): Promise<void> {
  const duration = Number(process.env.BENCH_DURATION ?? 4);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const warmup = Number(process.env.BENCH_WARMUP ?? 1);
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const tool = process.env.BENCH_LOAD ?? (hasCommand('wrk') ? 'wrk' : 'autocannon');
  const out = process.env.BENCH_OUT ?? join(dirname(self), 'results', 'proxy.json');
  const hasNginx = hasCommand('nginx');
  const load = (url: string, seconds: number, conns: number) => runLoad(tool, url, seconds, conns);
  const contenders = CONTENDERS.filter(
    (c) => (c.kind !== 'nginx' || hasNginx) && (only === undefined || only.includes(c.key)),
  );
  // The switchyard contenders run the built dist/ (what users run): fail now, not mid-run, when it is stale.
  if (contenders.some((c) => c.kind === 'switchyard')) builtEntry();
  const began = Date.now();
  console.log(
    `proxy bench: ${contenders.length} contenders, ${rounds} round(s) x ${duration} s (+${warmup} s warm-up), ` +
      `${connections} connections, ${tool}, node ${process.version}${hasNginx ? '' : ', nginx not installed'}`,
  );
  const backends = await startRole(self, ['backends']);
  const ports = backends.message.ports as number[];
  const results = new Map<string, Result[]>(contenders.map((c) => [c.key, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const contender of order) {
        let port: number;
        let stop: () => void;
        let child: ChildProcess | undefined;
        if (contender.kind === 'direct') {
          port = ports[0] as number;
          stop = () => {};
        } else if (contender.kind === 'nginx') {
          ({ port, stop } = await startNginx(ports));
        } else {
          const proxy = await startRole(self, ['proxy', JSON.stringify(contender), JSON.stringify(ports)]);
          port = proxy.message.port as number;
          child = proxy.child;
          stop = () => proxy.child.kill();
        }
        try {
          const url = `http://127.0.0.1:${port}${contender.path}`;
          if (warmup > 0) await load(url, warmup, connections);
          if (child) await ask(child, 'mark');
          const result: Result = await load(url, duration, connections);
          if (child) {
            const used = await ask(child, 'report');
            result.cpuUs = (used.cpuUs as number) / Math.max(used.requests as number, 1);
          }
          results.get(contender.key)?.push(result);
          console.log(
            `  round ${round + 1} ${contender.key.padEnd(24)} ${result.rps.toFixed(0).padStart(7)} req/s  ` +
              `p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  errors ${result.errors}` +
              (result.cpuUs === undefined ? '' : `  ${result.cpuUs.toFixed(1)} µs CPU/req`),
          );
        } finally {
          stop();
        }
      }
    }
  } finally {
    backends.child.kill();
  }

  const summary = contenders.map((c) => {
    const runs = results.get(c.key) ?? [];
    return {
      key: c.key,
      label: c.label,
      forwarder: c.forwarder ?? null,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
      cpuUs: runs[0]?.cpuUs === undefined ? null : median(runs.map((r) => r.cpuUs as number)),
      rounds: runs,
    };
  });
  const rpsOf = (key: string) => summary.find((s) => s.key === key)?.rps;
  const bare = rpsOf('bare');
  const undiciMin = rpsOf('undici-min');
  const ratio = (rps: number, base: number | undefined) => (base ? rps / base : null);
  const rows = summary.map((s) => ({ ...s, vsBare: ratio(s.rps, bare), vsUndiciMin: ratio(s.rps, undiciMin) }));

  const fmt = (n: number | null, digits = 2) => (n === null ? '—' : n.toFixed(digits));
  console.log(`\nmedians over ${rounds} round(s):\n`);
  console.log(
    '| contender | forwarder | req/s | p50 ms | p99 ms | errors | µs CPU/req | × bare http-proxy-3 | × minimal undici |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${r.forwarder ?? ''} | ${r.rps.toFixed(0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${fmt(r.cpuUs, 1)} | ${fmt(r.vsBare)} | ${fmt(r.vsUndiciMin)} |`,
    );
  }
  const uptime = (() => {
    try {
      return execFileSync('uptime', { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  })();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        tool,
        duration,
        rounds,
        connections,
        warmup,
        uptime,
        elapsedSeconds: Math.round((Date.now() - began) / 1000),
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\n${uptime}\nwrote ${out} (${Math.round((Date.now() - began) / 1000)} s)`);
}
