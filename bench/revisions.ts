/**
 * Revisions side by side: the same pipeline of two or more git revisions of
 * this repository, against the same two loopback backends, driven by the same
 * load (wrk when installed, autocannon otherwise), in alternating rounds.
 * Answers "is this change slower?" for a refactor, in one run on one machine.
 *
 *   npm run bench:revisions -- 334a61e 434dca8          # before and after a change
 *   BENCH_PROFILE=lean npm run bench:revisions -- main HEAD
 *
 * Each revision's `src/`, `package.json` and tsconfig files are exported with
 * `git archive` into a folder under `node_modules/.cache/` that borrows this
 * checkout's dependencies, compiled with this checkout's `tsc`
 * (`tsconfig.build.json`), and its built `dist/` is what runs, as users run it
 * (tsx's transform adds per-closure costs that distort a comparison). Knobs: BENCH_PROFILE
 * (`default`: `createLoadBalancer({ backends })`; `lean`: every optional stage
 * off), BENCH_DURATION (s per round, default 4), BENCH_ROUNDS (default 5),
 * BENCH_CONNECTIONS (default 50), BENCH_WARMUP (s, default 1).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ask, hasCommand, median, profileOptions, runLoad, serveBackends, serveMeasured, startRole } from './common.ts';

const self = fileURLToPath(import.meta.url);
const repo = dirname(dirname(self));
const role = process.argv[2];

if (role === 'backends') {
  process.send?.({ ports: await serveBackends() });
} else if (role === 'proxy') {
  const [, , , dir, portsJson, profile] = process.argv;
  const ports = JSON.parse(portsJson as string) as number[];
  const { createLoadBalancer } = (await import(pathToFileURL(join(dir as string, 'dist', 'index.js')).href)) as {
    createLoadBalancer: (options: Record<string, unknown>) => { handler: http.RequestListener };
  };
  const lb = createLoadBalancer(
    profileOptions(
      profile ?? 'default',
      'undici',
      ports.map((port) => `http://127.0.0.1:${port}`),
    ),
  );
  serveMeasured(lb.handler);
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
  // Inside this checkout, so each revision's dist/ resolves this checkout's node_modules.
  mkdirSync(join(repo, 'node_modules', '.cache'), { recursive: true });
  const scratch = mkdtempSync(join(repo, 'node_modules', '.cache', 'revisions-'));
  const dirs = revisions.map((revision, i) => {
    const sha = execFileSync('git', ['rev-parse', '--short', revision], { cwd: repo, encoding: 'utf8' }).trim();
    const dir = join(scratch, `${i}-${sha}`);
    mkdirSync(dir);
    const files = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
    const archive = execFileSync('git', ['archive', sha, ...files], { cwd: repo, maxBuffer: 1 << 28 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    console.log(`building ${revision} (${sha})`);
    execFileSync(
      process.execPath,
      [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: dir,
        stdio: 'inherit',
      },
    );
    return { revision, sha, dir };
  });
  console.log(
    `revisions bench (${profile}): ${dirs.map((d) => `${d.revision}=${d.sha}`).join(', ')}; ` +
      `${rounds} round(s) x ${duration} s, ${connections} connections, ${tool}, node ${process.version}`,
  );
  const backends = await startRole(self, ['backends']);
  const ports = backends.message.ports as number[];
  const results = new Map(dirs.map((d) => [d.sha, [] as { rps: number; p50: number; p99: number; cpuUs: number }[]]));
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? dirs : [...dirs].reverse();
      for (const { sha, dir } of order) {
        const proxy = await startRole(self, ['proxy', dir, JSON.stringify(ports), profile]);
        try {
          const url = `http://127.0.0.1:${proxy.message.port as number}/bench`;
          if (warmup > 0) await runLoad(tool, url, warmup, connections);
          await ask(proxy.child, 'mark');
          const r = await runLoad(tool, url, duration, connections);
          const used = await ask(proxy.child, 'report');
          if (r.errors > 0) throw new Error(`${sha}: ${r.errors} errors`);
          const cpuUs = (used.cpuUs as number) / Math.max(used.requests as number, 1);
          results.get(sha)?.push({ ...r, cpuUs });
          console.log(
            `  round ${round + 1} ${sha}  ${Math.round(r.rps)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  ${cpuUs.toFixed(1)} µs CPU/req`,
          );
        } finally {
          proxy.child.kill();
        }
      }
    }
  } finally {
    backends.child.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
  const first = results.get(dirs[0]?.sha as string) ?? [];
  const base = median(first.map((r) => r.rps));
  const baseCpu = median(first.map((r) => r.cpuUs));
  console.log(
    `\nmedians over ${rounds} round(s):\n\n| revision | req/s | p50 ms | p99 ms | µs CPU/req | req/s × ${dirs[0]?.revision} | CPU/req × ${dirs[0]?.revision} |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { revision, sha } of dirs) {
    const rs = results.get(sha) ?? [];
    const rps = median(rs.map((r) => r.rps));
    const cpuUs = median(rs.map((r) => r.cpuUs));
    console.log(
      `| ${revision} (${sha}) | ${Math.round(rps)} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ` +
        `${median(rs.map((r) => r.p99)).toFixed(2)} | ${cpuUs.toFixed(1)} | ${(rps / base).toFixed(2)} | ${(cpuUs / baseCpu).toFixed(2)} |`,
    );
  }
}
