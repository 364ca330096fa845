/**
 * Workers: the default pipeline in 1 and in 2 `node:cluster` workers sharing
 * one port, same load (wrk when installed, autocannon otherwise), alternating
 * rounds. On a machine with 2 cores the load generator and the backends
 * compete with the workers for the same cores: read the ratio, not the
 * absolute figure.
 *
 *   npm run bench:workers
 *   BENCH_DURATION=5 BENCH_ROUNDS=3 WORKERS=4 npm run bench:workers
 */
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { builtEntry, freePort, hasCommand, loadBuilt, median, serveBackends, startRole } from './common.ts';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'cluster') {
  const ports = JSON.parse(process.argv[3] ?? '[]') as number[];
  const workers = Number(process.argv[4] ?? 1);
  const port = Number(process.argv[5]);
  if (cluster.isPrimary) {
    let listening = 0;
    for (let i = 0; i < workers; i++) {
      cluster.fork({ ...process.env }).on('listening', () => {
        if (++listening === workers) process.send?.({ port });
      });
    }
    process.on('SIGTERM', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
      process.exit(0);
    });
  } else {
    const { createLoadBalancer } = await loadBuilt();
    const lb = createLoadBalancer({ backends: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })) });
    const server = http.createServer(lb.handler);
    server.keepAliveTimeout = 65_000;
    server.listen(port, '127.0.0.1');
  }
} else {
  await main();
}

async function load(url: string, seconds: number, connections: number): Promise<{ rps: number; p99: string }> {
  if (hasCommand('wrk')) {
    return new Promise((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.once('error', reject);
      child.once('close', () =>
        resolve({
          rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
          p99: /\s99%\s+(\S+)/.exec(out)?.[1] ?? '?',
        }),
      );
    });
  }
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({ url, connections, duration: seconds });
  return { rps: result.requests.average, p99: `${result.latency.p99}ms` };
}

async function main(): Promise<void> {
  // The built dist/ (what users run): fail now, not mid-run, when it is missing or stale.
  builtEntry();
  const seconds = Number(process.env.BENCH_DURATION ?? 5);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const many = Number(process.env.WORKERS ?? 2);
  console.log(
    `workers bench: 1 vs ${many} cluster workers, ${rounds} round(s) x ${seconds} s, ${connections} connections, ` +
      `${availableParallelism()} cores, node ${process.version}`,
  );
  const backends = await startRole(self, ['backends']);
  const ports = JSON.stringify(backends.message.ports);
  const results: Record<string, number[]> = { 1: [], [many]: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [1, many] : [many, 1];
      for (const workers of order) {
        const port = await freePort();
        const proxy = await startRole(self, ['cluster', ports, String(workers), String(port)]);
        try {
          const url = `http://127.0.0.1:${port}/bench`;
          await load(url, 1, connections);
          const result = await load(url, seconds, connections);
          results[workers]?.push(result.rps);
          console.log(`  round ${round + 1} ${workers} worker(s): ${result.rps.toFixed(0)} req/s, p99 ${result.p99}`);
        } finally {
          proxy.child.kill('SIGTERM');
          await new Promise((resolve) => proxy.child.once('exit', resolve));
        }
      }
    }
  } finally {
    backends.child.kill();
  }
  const one = median(results[1] ?? []);
  const two = median(results[many] ?? []);
  console.log(
    `\nmedian: 1 worker ${one.toFixed(0)} req/s, ${many} workers ${two.toFixed(0)} req/s: ${(two / one).toFixed(2)} x`,
  );
}
