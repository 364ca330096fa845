/**
 * Router matching micro-benchmark: matches per second for host + prefix
 * rules at 10, 1,000 and 10,000 routes. Not a test.
 *
 *   npm run bench:router
 *   BENCH_SCALE=0.2 npm run bench:router   # quicker
 *
 * Each route is `{ host: 'svc<i>.example.com', prefix: '/p<i>/api', pool }`
 * plus one wildcard; requests cycle over hosts and paths spread over the
 * whole table (hits at every depth, and misses that fall to the default
 * route). Best of 3 runs of a fixed number of `RouteTable.match` calls,
 * on paths normalised beforehand (the routing cost) and with
 * `normalizePath` in the loop (what a request pays).
 */
const { RouteTable } = await import('../src/surfaces/router/match.ts');
const { routesSchema } = await import('../src/surfaces/router/options.ts');
const { normalizePath } = await import('../src/core/net/request-target.ts');

const SIZES = [10, 1_000, 10_000] as const;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const MATCHES = Math.round(1_000_000 * SCALE);

function routes(n: number) {
  const list: unknown[] = [];
  for (let i = 0; i < n - 2; i++)
    list.push({ host: `svc${i}.example.com`, prefix: `/p${i}/api`, pool: `pool${i % 10}` });
  list.push({ host: '*.example.com', prefix: '/', pool: 'wild' });
  list.push({ pool: 'default' });
  return routesSchema.parse(list);
}

function requests(n: number) {
  const out: { host: string; path: string }[] = [];
  for (let i = 0; i < 1024; i++) {
    const k = (i * 7919) % Math.max(1, n - 2);
    const kind = i % 4;
    if (kind === 0) out.push({ host: `svc${k}.example.com`, path: `/p${k}/api/users/42` });
    else if (kind === 1) out.push({ host: `svc${k}.example.com`, path: `/p${k}/api` });
    else if (kind === 2) out.push({ host: `x${k}.example.com`, path: '/anything/else' });
    else out.push({ host: 'other.test', path: `/p${k}/api/deep/a/b/c` });
  }
  return out;
}

console.log(`router match, ${MATCHES} matches per run, best of 3 (node ${process.version})`);
console.log('routes   match ns   +normalizePath ns   matches/s (match only)');
for (const size of SIZES) {
  const table = new RouteTable(routes(size));
  const reqs = requests(size);
  const normalised = reqs.map((r) => ({ host: r.host, path: normalizePath(r.path) }));
  const headers = {};
  let sink = 0;
  const time = (withNormalize: boolean) => {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 4; run++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < MATCHES; i++) {
        const r = (withNormalize ? reqs : normalised)[i & 1023] as { host: string; path: string };
        const path = withNormalize ? normalizePath(r.path) : r.path;
        if (table.match(r.host, path, 'GET', headers)) sink++;
      }
      const ns = Number(process.hrtime.bigint() - start) / MATCHES;
      if (run > 0) best = Math.min(best, ns); // run 0 warms up
    }
    return best;
  };
  const match = time(false);
  const full = time(true);
  if (sink === 0) throw new Error('nothing matched');
  console.log(
    `${String(size).padStart(6)}  ${match.toFixed(1).padStart(9)}  ${full.toFixed(1).padStart(18)}  ${Math.round(
      1e9 / match,
    )
      .toLocaleString('en-US')
      .padStart(11)}`,
  );
}
