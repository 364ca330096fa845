/**
 * HTTP/2 benchmark, driven by h2load (Debian's nghttp2-client), all rows in
 * one run against the same loopback backends:
 *
 * - `direct-h2c`: h2load straight at an h2c backend (the ceiling);
 * - `h2-down`:    switchyard on `http2.createServer`, HTTP/1.1 backends
 *                 (the HTTP/2-downstream row);
 * - `h2-up`:      switchyard on `http2.createServer`, h2c backends
 *                 (`protocol: 'h2c'`, the h2-upstream row).
 *
 *   npm run bench:http2
 *   BENCH_DURATION=5 BENCH_CLIENTS=20 BENCH_STREAMS=10 npm run bench:http2
 *
 * Backends, the balancer and h2load run in separate processes; loopback
 * only; every run is bounded in time. Without h2load on the PATH it says so
 * and exits 0.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
const body = Buffer.from(JSON.stringify({ ok: true, payload: 'x'.repeat(256) }));

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

if (role === 'backends') {
  const h1: number[] = [];
  const h2: number[] = [];
  for (let i = 0; i < 3; i++) {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 65_000;
    h1.push(await listen(server));
    const server2 = http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    h2.push(await listen(server2));
  }
  process.send?.({ h1, h2 });
} else if (role === 'h2-down' || role === 'h2-up') {
  const ports = JSON.parse(process.argv[3] ?? '[]') as number[];
  const { createLoadBalancer } = await import('../src/index.ts');
  const lb = createLoadBalancer({
    backends: ports.map((port) => ({
      url: `http://127.0.0.1:${port}`,
      ...(role === 'h2-up' ? { protocol: 'h2c' as const } : {}),
    })),
  });
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, lb.handler);
  process.send?.({ port: await listen(server) });
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
  failed: number;
  p50: string;
}

function h2load(port: number, duration: number, clients: number, streams: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(
      'h2load',
      [
        '-D',
        String(duration),
        '-c',
        String(clients),
        '-m',
        String(streams),
        '-t',
        '1',
        `http://127.0.0.1:${port}/bench`,
      ],
      { timeout: (duration + 30) * 1000 },
      (error, stdout) => {
        if (error) return reject(error);
        const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout);
        const failed = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed/.exec(stdout);
        const time = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(stdout);
        if (!rps) return reject(new Error(`cannot read h2load output:\n${stdout}`));
        resolve({ rps: Number(rps[1]), failed: Number(failed?.[1] ?? 0), p50: time?.[1] ?? '?' });
      },
    );
  });
}

async function main(): Promise<void> {
  const duration = Number(process.env.BENCH_DURATION ?? 10);
  const clients = Number(process.env.BENCH_CLIENTS ?? 10);
  const streams = Number(process.env.BENCH_STREAMS ?? 10);
  const found = await new Promise<boolean>((resolve) => execFile('h2load', ['--version'], (error) => resolve(!error)));
  if (!found) {
    console.log('bench:http2 needs h2load (apt-get install nghttp2-client); skipped.');
    return;
  }
  console.log(`http2 bench: ${duration} s per row, ${clients} clients x ${streams} streams, node ${process.version}`);
  const backends = await start(['backends']);
  const { h1, h2 } = backends.message as { h1: number[]; h2: number[] };
  const results: Record<string, Result> = {};
  try {
    results['direct-h2c'] = await h2load(h2[0] as number, duration, clients, streams);
    for (const [name, ports] of [
      ['h2-down', h1],
      ['h2-up', h2],
    ] as const) {
      const proxy = await start([name, JSON.stringify(ports)]);
      try {
        await h2load(proxy.message.port as number, 1, clients, streams); // warm-up
        results[name] = await h2load(proxy.message.port as number, duration, clients, streams);
      } finally {
        proxy.child.kill();
      }
    }
  } finally {
    backends.child.kill();
  }
  console.log('\n  row          req/s   failed  mean time/request');
  for (const [name, r] of Object.entries(results)) {
    console.log(`  ${name.padEnd(11)} ${r.rps.toFixed(0).padStart(7)}  ${String(r.failed).padStart(6)}  ${r.p50}`);
  }
  const direct = results['direct-h2c'] as Result;
  console.log('');
  for (const name of ['h2-down', 'h2-up']) {
    const r = results[name] as Result;
    console.log(`ratio ${name} / direct-h2c: throughput ${(r.rps / direct.rps).toFixed(3)}`);
  }
}
