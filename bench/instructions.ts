/**
 * CPU instructions per request, counted by valgrind (callgrind) on the
 * proxy's event-loop thread: a figure that does not move with machine load,
 * so two builds (or a change and its base) can be compared on a busy or
 * shared machine where req/s and µs per request swing by tens of percent.
 *
 *   npm run build && npm run bench:instructions
 *   INSTR_ONLY=undici-min,lean,default INSTR_WARM=30000 npm run bench:instructions
 *   BENCH_DIST=/path/inside/checkout/dist INSTR_ONLY=lean npm run bench:instructions   # another build
 *
 * Each contender runs in its own process under `valgrind --tool=callgrind`
 * with instrumentation off; a keep-alive client sends INSTR_WARM requests
 * (default 30,000) so the JIT settles, then instrumentation is switched on
 * for INSTR_N requests (default 3,000) and off again. The figure is the
 * event-loop thread's instruction count over those requests divided by
 * their number; V8's background compiler and GC threads are left out
 * (their share still varies between runs). Kernel time is not counted:
 * every contender makes the same system calls per request, so instruction
 * ratios overstate the req/s ratios of `npm run bench` somewhat.
 * Repeat runs agree within about 3 %. Contenders: `undici-min`, `bare`,
 * `lean`, `default`, `policies`, each switchyard one also as
 * `<profile>@http-proxy-3`. Two more run when INSTR_ONLY names them:
 * `undici-min+default-headers` and `undici-min+policy-headers`, the minimal
 * proxy adding fixed headers of the same names and lengths as the defaults
 * (or the defaults and the policies) add. Their distance from `undici-min`
 * is what undici and Node charge for those headers alone: a floor no
 * switchyard code can go under. INSTR_PARALLEL (default 2) runs that many at once.
 * Needs valgrind (`apt-get install valgrind`); without it, says so and exits 0.
 * Results: a table, and bench/results/instructions.json.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtEntry, contenderHandler, hasCommand, reportRoleErrors, serveBackends } from './common.ts';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
if (role !== undefined) reportRoleErrors();

const ALL = [
  'undici-min',
  'bare',
  'lean',
  'default',
  'policies',
  'lean@http-proxy-3',
  'default@http-proxy-3',
  'policies@http-proxy-3',
];
/** Contenders that run only when INSTR_ONLY names them. */
const FLOORS = ['undici-min+default-headers', 'undici-min+policy-headers'];

if (role === 'proxy') {
  const contender = process.argv[3] ?? 'default';
  const ports = JSON.parse(process.argv[4] ?? '[]') as number[];
  const [name, forwarder = 'undici'] = contender.split('@') as [string, string | undefined];
  const { handler } = await contenderHandler(
    name,
    forwarder,
    ports.map((port) => `http://127.0.0.1:${port}`),
  );
  const server = http.createServer(handler);
  server.keepAliveTimeout = 600_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else if (role === undefined) {
  await main();
}

interface Count {
  contender: string;
  /** Event-loop thread instructions per request, in thousands. */
  kInstructions: number;
  /** All threads (background JIT compiler and GC included), in thousands. */
  kInstructionsAllThreads: number;
}

async function measure(contender: string, ports: number[], dir: string, warm: number, n: number): Promise<Count> {
  const { Pool } = await import('undici');
  const out = join(dir, `cg.${contender.replace('@', '-')}`);
  const child = fork(self, ['proxy', contender, JSON.stringify(ports)], {
    execPath: 'valgrind',
    execArgv: [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      `--callgrind-out-file=${out}`,
      process.execPath,
      ...process.execArgv,
    ],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => {
      const message = m as { port?: number; error?: string };
      if (message.error) reject(new Error(`${contender}: ${message.error}`));
      else resolve(message.port as number);
    });
    child.once('exit', (code) => reject(new Error(`${contender} exited with ${code} before listening:\n${stderr}`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
  const load = async (count: number) => {
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (sent++ < count) {
          const reply = await pool.request({ path: '/bench', method: 'GET' });
          await reply.body.dump();
          if (reply.statusCode !== 200) throw new Error(`${contender} answered ${reply.statusCode}`);
        }
      }),
    );
  };
  try {
    await load(warm);
    const pid = String(child.pid);
    execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' });
    await load(n);
    execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
  } finally {
    await pool.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
  }
  const base = out.slice(dir.length + 1);
  let main = 0;
  let all = 0;
  for (const file of readdirSync(dir)) {
    // The dump's parts: <out>.1-01 is the first thread (the event loop), -02... the others.
    if (!file.startsWith(`${base}.1-`)) continue;
    const total = /^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (!total) continue;
    all += Number(total[1]);
    if (file.endsWith('.1-01')) main = Number(total[1]);
  }
  if (main === 0) throw new Error(`${contender}: no callgrind dump found in ${dir}`);
  return { contender, kInstructions: main / n / 1000, kInstructionsAllThreads: all / n / 1000 };
}

async function main(): Promise<void> {
  if (!hasCommand('valgrind') || !hasCommand('callgrind_control')) {
    console.log('bench:instructions needs valgrind (apt-get install valgrind): skipped');
    return;
  }
  builtEntry(); // refuses a dist/ older than src/
  const only = process.env.INSTR_ONLY?.split(',').filter(Boolean) ?? ALL;
  const known = [...ALL, ...FLOORS];
  const unknown = only.filter((c) => !known.includes(c));
  if (unknown.length > 0)
    throw new Error(`unknown INSTR_ONLY entries: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const warm = Number(process.env.INSTR_WARM ?? 30_000);
  const n = Number(process.env.INSTR_N ?? 3000);
  const parallel = Math.max(1, Number(process.env.INSTR_PARALLEL ?? 2));
  const ports = await serveBackends();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-instr-'));
  const started = Date.now();
  const counts: Count[] = [];
  const queue = [...only];
  try {
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const count = await measure(next, ports, dir, warm, n);
          console.log(`  ${next.padEnd(24)} ${count.kInstructions.toFixed(1)}k instructions per request`);
          counts.push(count);
        }
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  counts.sort((a, b) => only.indexOf(a.contender) - only.indexOf(b.contender));
  const of = (name: string) => counts.find((c) => c.contender === name)?.kInstructions;
  const min = of('undici-min');
  const bare = of('bare');
  const ratio = (value: number, to: number | undefined) => (to ? (to / value).toFixed(2) : '—');
  console.log(`\n${n} requests after ${warm} warm-up, event-loop thread (instructions ratio: fewer is faster)\n`);
  console.log(
    '| contender | k instructions/request | minimal undici ÷ this | bare http-proxy-3 ÷ this | all threads |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const c of counts) {
    console.log(
      `| ${c.contender} | ${c.kInstructions.toFixed(1)} | ${ratio(c.kInstructions, min)} | ${ratio(c.kInstructions, bare)} | ${c.kInstructionsAllThreads.toFixed(1)} |`,
    );
  }
  const results = join(dirname(self), 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(
    join(results, 'instructions.json'),
    `${JSON.stringify({ warm, requests: n, node: process.version, counts }, null, 2)}\n`,
  );
  console.log(`\nwrote ${join(results, 'instructions.json')} (${Math.round((Date.now() - started) / 1000)} s)`);
  process.exit(0);
}
