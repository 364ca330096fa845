/**
 * Revisions side by side: the same pipeline of two or more git revisions of
 * this repository, against the same two loopback backends, driven by the same
 * load (wrk when installed, autocannon otherwise), in alternating rounds.
 * Answers "is this change slower?" for a refactor, in one run on one machine.
 *
 *   npm run bench:revisions -- 334a61e 434dca8          # before and after a change
 *   BENCH_PROFILE=lean npm run bench:revisions -- main HEAD
 *
 * Each revision's `src/` and `package.json` are exported with `git archive`
 * into a temporary folder that borrows this checkout's `node_modules`, and run
 * from source with tsx (the same for every revision). Knobs: BENCH_PROFILE
 * (`default`: `createLoadBalancer({ backends })`; `lean`: every optional stage
 * off), BENCH_DURATION (s per round, default 4), BENCH_ROUNDS (default 5),
 * BENCH_CONNECTIONS (default 50), BENCH_WARMUP (s, default 1).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hasCommand, LEAN, median, runLoad, serveBackends, startRole } from './common.ts';

const self = fileURLToPath(import.meta.url);
const repo = dirname(dirname(self));
const role = process.argv[2];

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'proxy') {
  const [, , , dir, portsJson, profile] = process.argv;
  const ports = JSON.parse(portsJson as string) as number[];
  const { createLoadBalancer } = (await import(pathToFileURL(join(dir as string, 'src', 'index.ts')).href)) as {
    createLoadBalancer: (options: Record<string, unknown>) => { handler: http.RequestListener };
  };
  const lb = createLoadBalancer({
    backends: ports.map((port) => ({ url: `http://127.0.0.1:${port}` })),
    ...(profile === 'lean' ? LEAN : {}),
  });
  const server = http.createServer(lb.handler);
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else {
  const revisions = process.argv.slice(2);
  if (revisions.length < 2) {
    console.error('usage: npm run bench:revisions -- <revision> <revision> [...]');
    process.exit(2);
  }
  const duration = Number(process.env.BENCH_DURATION ?? 4);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const warmup = Number(process.env.BENCH_WARMUP ?? 1);
  const profile = process.env.BENCH_PROFILE === 'lean' ? 'lean' : 'default';
  const tool = hasCommand('wrk') ? 'wrk' : 'autocannon';
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-revisions-'));
  const dirs = revisions.map((revision, i) => {
    const sha = execFileSync('git', ['rev-parse', '--short', revision], { cwd: repo, encoding: 'utf8' }).trim();
    const dir = join(scratch, `${i}-${sha}`);
    mkdirSync(dir);
    const archive = execFileSync('git', ['archive', sha, 'src', 'package.json'], { cwd: repo, maxBuffer: 1 << 28 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    return { revision, sha, dir };
  });
  console.log(
    `revisions bench (${profile}): ${dirs.map((d) => `${d.revision}=${d.sha}`).join(', ')}; ` +
      `${rounds} round(s) x ${duration} s, ${connections} connections, ${tool}, node ${process.version}`,
  );
  const backends = await startRole(self, ['backends']);
  const ports = backends.message.ports as number[];
  const results = new Map(dirs.map((d) => [d.sha, [] as { rps: number; p50: number; p99: number }[]]));
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? dirs : [...dirs].reverse();
      for (const { sha, dir } of order) {
        const proxy = await startRole(self, ['proxy', dir, JSON.stringify(ports), profile]);
        try {
          const url = `http://127.0.0.1:${proxy.message.port as number}/bench`;
          if (warmup > 0) await runLoad(tool, url, warmup, connections);
          const r = await runLoad(tool, url, duration, connections);
          if (r.errors > 0) throw new Error(`${sha}: ${r.errors} errors`);
          results.get(sha)?.push(r);
          console.log(`  round ${round + 1} ${sha}  ${Math.round(r.rps)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms`);
        } finally {
          proxy.child.kill();
        }
      }
    }
  } finally {
    backends.child.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
  const base = median((results.get(dirs[0]?.sha as string) ?? []).map((r) => r.rps));
  console.log(`\nmedians over ${rounds} round(s):\n\n| revision | req/s | p50 ms | p99 ms | × ${dirs[0]?.revision} |`);
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const { revision, sha } of dirs) {
    const rs = results.get(sha) ?? [];
    const rps = median(rs.map((r) => r.rps));
    console.log(
      `| ${revision} (${sha}) | ${Math.round(rps)} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${(rps / base).toFixed(2)} |`,
    );
  }
}
