/**
 * Where a request's CPU and allocations go: runs one switchyard profile under
 * load with the V8 CPU profiler on over the measured window only, then prints
 * CPU µs per request, minor GCs per 1,000 requests (allocation pressure) and
 * the top functions by self time, grouped by package as well.
 *
 *   npm run bench:profile                               # defaults on undici, 6 s of load
 *   PROFILE=lean FORWARDER=http-proxy-3 PROFILE_DURATION=4 npm run bench:profile
 *
 * Knobs: PROFILE (`lean`, `default`, `policies`, or, for reference, `undici-min`
 * (the minimal undici proxy of `npm run bench`) or `bare` (bare http-proxy-3)), FORWARDER (`undici`,
 * `http-proxy-3`), PROFILE_DURATION (s), BENCH_CONNECTIONS (default 50),
 * PROFILE_DIR (where the .cpuprofile/.heapprofile files go, made if missing;
 * default a temp dir),
 * PROFILE_CPU=0 / PROFILE_HEAP=0 (no CPU profile / no allocation sampling:
 * bytes allocated per request, collected objects included, by site).
 * Load comes from wrk when installed, autocannon otherwise, in its own process.
 * The profiled code is the built `dist/` (run `npm run build` first; a
 * `dist/` older than `src/` is refused). A role process that fails (or exits
 * before answering) ends the run at once with its error and a non-zero exit.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  ask,
  builtEntry,
  childExit,
  contenderHandler,
  hasCommand,
  reportRoleErrors,
  serveBackends,
  startRole,
} from './common.ts';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
// A role that fails tells the parent why (startRole and ask reject with it) instead of leaving it waiting.
if (role !== undefined) reportRoleErrors();

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'proxy') {
  const ports = JSON.parse(process.argv[3] ?? '[]') as number[];
  const profile = process.argv[4] ?? 'default';
  const forwarder = process.argv[5] ?? 'undici';
  const { handler, close } = await contenderHandler(
    profile,
    forwarder,
    ports.map((port) => `http://127.0.0.1:${port}`),
    JSON.parse(process.env.PROFILE_OPTIONS ?? '{}') as object,
  );
  let requests = 0;
  let minorGcs = 0;
  let cpu = process.cpuUsage();
  let counting = false;
  new PerformanceObserver((list) => {
    if (!counting) return;
    for (const entry of list.getEntries()) {
      // NODE_PERFORMANCE_GC_MINOR = 1
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) minorGcs++;
    }
  }).observe({ entryTypes: ['gc'] });
  const server = http.createServer((req, res) => {
    if (counting) requests++;
    handler(req, res);
  });
  server.keepAliveTimeout = 65_000;
  // The CPU profile covers exactly the measured window (no start-up, no warm-up).
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const cpuProfile = process.env.PROFILE_CPU !== '0';
  if (cpuProfile) {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
  }
  // Allocation sampling, collected objects included: bytes allocated per request, whatever the load.
  const heapProfile = process.env.PROFILE_HEAP !== '0';
  if (heapProfile) await post('HeapProfiler.enable');
  process.on('message', async (message: string) => {
    if (message === 'count') {
      if (cpuProfile) await post('Profiler.start');
      if (heapProfile) {
        await post('HeapProfiler.startSampling', {
          samplingInterval: 1024,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      counting = true;
      cpu = process.cpuUsage();
      process.send?.({ counting: true });
    }
    if (message === 'stop') {
      counting = false;
      const used = process.cpuUsage(cpu);
      if (cpuProfile) {
        const { profile } = (await post('Profiler.stop')) as { profile: unknown };
        writeFileSync(join(process.env.PROFILE_OUT ?? '.', `window.cpuprofile`), JSON.stringify(profile));
      }
      let allocated: Array<[string, number]> = [];
      if (heapProfile) {
        const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
        writeFileSync(join(process.env.PROFILE_OUT ?? '.', `window.heapprofile`), JSON.stringify(profile));
        allocated = [...allocationsBySite(profile.head)];
      }
      process.send?.({ requests, minorGcs, cpuUs: used.user + used.system, allocated });
      server.close();
      void close().finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    }
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else {
  await main();
}

async function drive(url: string, seconds: number, connections: number): Promise<void> {
  if (hasCommand('wrk')) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    return;
  }
  const { default: autocannon } = await import('autocannon');
  await autocannon({ url, connections, duration: seconds });
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated over the sampled window (V8's estimate), by allocating function. */
function allocationsBySite(head: HeapNode): Map<string, number> {
  const sites = new Map<string, number>();
  const stack = [head];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.selfSize > 0) {
      const key = where(node.callFrame);
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    }
    stack.push(...node.children);
  }
  return sites;
}

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function where(frame: { functionName: string; url: string; lineNumber: number }): string {
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|src|dist)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

function packageOf(frame: { functionName: string; url: string }): string {
  const url = frame.url;
  if (url.includes('node_modules/')) return url.split('node_modules/').pop()?.split('/')[0] ?? url;
  if (url.includes('/src/')) return `src/${url.split('/src/').pop()}`;
  if (url.includes('/dist/')) return `dist/${url.split('/dist/').pop()}`;
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  return frame.functionName.startsWith('(') ? frame.functionName : `native ${frame.functionName}`;
}

function top(entries: Map<string, number>, total: number, count: number, unit: (n: number) => string): void {
  const sorted = [...entries].sort((a, b) => b[1] - a[1]).slice(0, count);
  for (const [name, value] of sorted) {
    console.log(`  ${((100 * value) / total).toFixed(1).padStart(5)}%  ${unit(value).padStart(9)}  ${name}`);
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.env.PROFILE_DURATION ?? 6);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const profile = process.env.PROFILE ?? 'default';
  const forwarder = process.env.FORWARDER ?? 'undici';
  if (profile !== 'undici-min' && profile !== 'bare') builtEntry(); // the profiled code is the built dist/: fail now when it is missing or stale
  const given = process.env.PROFILE_DIR;
  // Made now (parents included), not found missing by the proxy once the whole run is over.
  if (given !== undefined) mkdirSync(given, { recursive: true });
  const dir = given ?? mkdtempSync(join(tmpdir(), 'switchyard-profile-'));
  const backends = await startRole(self, ['backends']);
  const ports = JSON.stringify(backends.message.ports);
  let proxy: Awaited<ReturnType<typeof startRole>> | undefined;
  try {
    process.env.PROFILE_OUT = dir;
    proxy = await startRole(self, ['proxy', ports, profile, forwarder]);
    const url = `http://127.0.0.1:${proxy.message.port as number}/bench`;
    await drive(url, 1, connections); // warm-up: JIT, pools
    await ask(proxy.child, 'count');
    await drive(url, seconds, connections);
    type Counts = { requests: number; minorGcs: number; cpuUs: number; allocated: Array<[string, number]> };
    const counts = (await ask(proxy.child, 'stop')) as unknown as Counts;
    await childExit(proxy.child);
    const cpuFile = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    console.log(
      `profile ${profile} on ${forwarder}: ${counts.requests} requests in ${seconds} s (${Math.round(counts.requests / seconds)} req/s), ` +
        `${(counts.cpuUs / Math.max(counts.requests, 1)).toFixed(1)} µs CPU per request, ` +
        `${((1000 * counts.minorGcs) / Math.max(counts.requests, 1)).toFixed(2)} minor GCs per 1,000 requests`,
    );
    if (counts.allocated.length > 0) {
      const perRequest = (bytes: number) => bytes / Math.max(counts.requests, 1);
      const bytes = counts.allocated.reduce((sum, [, n]) => sum + n, 0);
      console.log(
        `\nallocated: ${(perRequest(bytes) / 1024).toFixed(2)} KiB per request (sampled, every 1 KiB); top sites:`,
      );
      top(new Map(counts.allocated), bytes, 12, (n) => `${perRequest(n).toFixed(0)} B`);
    }
    if (cpuFile) {
      const cpu = JSON.parse(readFileSync(join(dir, cpuFile), 'utf8')) as { nodes: CpuNode[] };
      const byFunction = new Map<string, number>();
      const byPackage = new Map<string, number>();
      let total = 0;
      for (const node of cpu.nodes) {
        const hits = node.hitCount ?? 0;
        if (hits === 0 || node.callFrame.functionName === '(idle)') continue;
        total += hits;
        const key = where(node.callFrame);
        byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
        const group = packageOf(node.callFrame);
        byPackage.set(group, (byPackage.get(group) ?? 0) + hits);
      }
      // Busy samples spread over the requests in proportion: µs per request for each entry.
      const usPerHit = counts.cpuUs / Math.max(total, 1) / Math.max(counts.requests, 1);
      const unit = (n: number) => `${(n * usPerHit).toFixed(2)} µs`;
      console.log('\nself time by package (µs per request):');
      top(byPackage, total, 15, unit);
      console.log('\ntop functions by self time (µs per request):');
      top(byFunction, total, 30, unit);
    }
    console.log(`\nprofiles in ${dir}`);
  } finally {
    proxy?.child.kill();
    backends.child.kill();
  }
}
