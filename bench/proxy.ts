/**
 * Proxy benchmark: bare http-proxy-3 with a keep-alive agent versus
 * switchyard's default pipeline (`switchyard`) and the same balancer with every
 * optional per-request feature off (`lean`), side by side in one run, against
 * the same loopback backends, driven by autocannon.
 *
 *   npm run bench                     # 3 rounds of 10 s per contender
 *   BENCH_DURATION=5 BENCH_ROUNDS=1 BENCH_CONNECTIONS=50 npm run bench
 *
 * Backends, the proxy under test and the load generator run in separate
 * processes; rounds alternate contenders so drift hits both alike. Loopback
 * only; every run is bounded in time.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];

if (role === 'backends') {
  const body = Buffer.from(JSON.stringify({ ok: true, payload: 'x'.repeat(256) }));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push((server.address() as AddressInfo).port);
  }
  process.send?.({ ports });
} else if (role === 'bare' || role === 'switchyard' || role === 'lean') {
  const ports = JSON.parse(process.argv[3] ?? '[]') as number[];
  const targets = ports.map((port) => `http://127.0.0.1:${port}`);
  let handler: http.RequestListener;
  if (role === 'bare') {
    const { createProxyServer } = await import('http-proxy-3');
    const proxy = createProxyServer({});
    proxy.on('error', (_err, _req, res) => {
      if ('writeHead' in res && !res.headersSent) res.writeHead(502);
      res.end();
    });
    const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 }));
    let next = 0;
    handler = (req, res) => {
      const i = next++ % targets.length;
      proxy.web(req, res, { target: targets[i], agent: agents[i] });
    };
  } else {
    const { createLoadBalancer } = await import('../src/index.ts');
    const backends = targets.map((url) => ({ url }));
    // `lean`: the same forwarder with every optional per-request feature off,
    // to tell the cost of the pipeline from the cost of the features.
    const lb =
      role === 'switchyard'
        ? createLoadBalancer({ backends })
        : createLoadBalancer({
            backends,
            retry: false,
            circuitBreaker: false,
            outlierDetection: false,
            queue: false,
            metrics: false,
            requestId: false,
            tracing: false,
            via: false,
          });
    handler = lb.handler;
  }
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else {
  await main();
}

function start(args: string[]): Promise<{ child: ChildProcess; message: Record<string, unknown> }> {
  const child = fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, message: message as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(port: number, duration: number, connections: number): Promise<Result> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/bench`,
    connections,
    duration,
    pipelining: 1,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const duration = Number(process.env.BENCH_DURATION ?? 10);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  console.log(
    `proxy bench: ${rounds} round(s) x ${duration} s per contender, ${connections} connections, node ${process.version}`,
  );
  const backends = await start(['backends']);
  const ports = JSON.stringify(backends.message.ports);
  const contenders = ['bare', 'switchyard', 'lean'] as const;
  const results: Record<(typeof contenders)[number], Result[]> = { bare: [], switchyard: [], lean: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const name of order) {
        const proxy = await start([name, ports]);
        try {
          await load(proxy.message.port as number, 1, connections); // warm-up
          const result = await load(proxy.message.port as number, duration, connections);
          results[name].push(result);
          console.log(
            `  round ${round + 1} ${name.padEnd(10)} ${result.rps.toFixed(0).padStart(7)} req/s  p50 ${result.p50} ms  p99 ${result.p99} ms  errors ${result.errors}  non-2xx ${result.non2xx}`,
          );
        } finally {
          proxy.child.kill();
        }
      }
    }
  } finally {
    backends.child.kill();
  }
  const summary = Object.fromEntries(
    contenders.map((name) => [
      name,
      {
        rps: median(results[name].map((r) => r.rps)),
        p50: median(results[name].map((r) => r.p50)),
        p99: median(results[name].map((r) => r.p99)),
      },
    ]),
  ) as Record<(typeof contenders)[number], { rps: number; p50: number; p99: number }>;
  console.log('\nmedian over rounds:');
  console.log('  contender    req/s     p50 ms  p99 ms');
  for (const name of contenders) {
    const s = summary[name];
    console.log(
      `  ${name.padEnd(10)} ${s.rps.toFixed(0).padStart(7)}   ${String(s.p50).padStart(6)}  ${String(s.p99).padStart(6)}`,
    );
  }
  console.log('');
  for (const name of ['switchyard', 'lean'] as const) {
    const ratio = (summary[name].rps / summary.bare.rps).toFixed(3);
    const p99 = (summary[name].p99 / Math.max(summary.bare.p99, 0.001)).toFixed(3);
    console.log(`ratio ${name} / bare http-proxy-3: throughput ${ratio}, p99 latency ${p99}`);
  }
}
