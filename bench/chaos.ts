/**
 * Chaos run: mixed traffic (GETs and POSTs, each with a unique id) through a
 * balancer in front of four loopback backends while a seeded schedule kills
 * and restarts backends, slows them, makes them reset before or in the middle
 * of a response body, and reweights them. The same load and the same schedule
 * run twice: with the defaults (breakers, retries, outlier detection) plus
 * active health checks, and with all of those off. Prints one table.
 *
 *   npm run chaos                          # 2 × 60 s, 32 concurrent
 *   CHAOS_SECONDS=20 CHAOS_CONCURRENCY=16 CHAOS_SEED=7 npm run chaos
 *   CHAOS_ONLY=kill,mid-body npm run chaos   # some kinds only: kill, slow, mid-body, reset, reweight
 *   CHAOS_TRACE=1 npm run chaos              # and where each failure met its backend (from the events)
 *
 * Loopback only; every phase is bounded in time and the process exits by
 * itself. Exits 1 when a POST reached a backend twice or a response was lost.
 */
import http from 'node:http';
import { createLoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const CONCURRENCY = Number(process.env.CHAOS_CONCURRENCY ?? 32);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
/** Chaos events come this often; each fault lasts FAULT_MS. */
const TICK_MS = Number(process.env.CHAOS_TICK_MS ?? 1000);
const FAULT_MS = 3000;
/** A request with no answer at all after this long counts as lost. */
const LOST_AFTER_MS = 15_000;
const BACKENDS = 4;
/** The kinds of chaos, in schedule order; CHAOS_ONLY=kill,mid-body keeps a few of them. */
const KINDS = ['kill', 'slow', 'mid-body', 'reset', 'reweight'];
const ONLY = process.env.CHAOS_ONLY ? new Set(process.env.CHAOS_ONLY.split(',')) : undefined;
/** CHAOS_TRACE=1: after the table, where each mid-body failure met its backend (diagnostics). */
const TRACE = process.env.CHAOS_TRACE === '1';

if (!(SECONDS > 0 && SECONDS <= 600) || !(CONCURRENCY >= 1 && CONCURRENCY <= 512)) {
  console.error('CHAOS_SECONDS must be in (0, 600] and CHAOS_CONCURRENCY in [1, 512]');
  process.exit(2);
}

/** mulberry32: a small seeded PRNG, so both runs see the same schedule. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Result {
  sent: number;
  succeeded: number;
  failed: Map<string, number>;
  postsTwice: number;
  lost: number;
  chaos: Map<string, number>;
  /** With CHAOS_TRACE: mid-body failures by the state of their backend and pool at that moment. */
  trace: Map<string, number>;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** One request on the client agent; resolves with the outcome's reason ('ok' for a whole, correct answer). */
function send(agent: http.Agent, port: number, n: number): Promise<string> {
  const post = n % 4 === 0;
  const id = `${post ? 'order' : 'item'}-${n}`;
  const path = `/${id}`;
  const body = post ? JSON.stringify({ id }) : undefined;
  return new Promise((resolve) => {
    let settled = false;
    const done = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reason);
    };
    const timer = setTimeout(() => {
      done('lost');
      req.destroy();
    }, LOST_AFTER_MS);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: post ? 'POST' : 'GET',
        path,
        agent,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => done('reset mid-body'));
        res.on('aborted', () => done('reset mid-body'));
        res.on('end', () => {
          if (!res.complete) return done('reset mid-body');
          const status = res.statusCode ?? 0;
          if (status !== 200) return done(String(status));
          try {
            const json = JSON.parse(Buffer.concat(chunks).toString()) as { url?: string };
            done(json.url === path ? 'ok' : 'wrong body');
          } catch {
            done('wrong body');
          }
        });
      },
    );
    req.on('error', () => done('reset before headers'));
    req.end(body);
  });
}

/**
 * Follows each backend's state through the balancer's events and, for every
 * mid-body failure, counts which states its backend was in (unhealthy,
 * ejected, breaker open: none means "not contained yet"), how long its fault
 * had lasted, and how many backends were out of service at that moment.
 */
function traceEvents(
  lb: ReturnType<typeof createLoadBalancer>,
  trace: Map<string, number>,
  faultSince: Map<string, { kind: string; at: number }>,
): void {
  const flags = new Map<string, Set<string>>();
  const set = (id: string, flag: string, on: boolean) => {
    let f = flags.get(id);
    if (!f) {
      f = new Set();
      flags.set(id, f);
    }
    if (on) f.add(flag);
    else f.delete(flag);
  };
  lb.on('backend:unhealthy', ({ backend }) => set(backend.id, 'unhealthy', true));
  lb.on('backend:healthy', ({ backend }) => set(backend.id, 'unhealthy', false));
  lb.on('backend:ejected', ({ backend, reason }) => {
    set(backend.id, 'ejected', true);
    const fault = faultSince.get(backend.id);
    bump(trace, `event: ejected (${reason}) during ${fault?.kind ?? 'no fault'}`);
  });
  lb.on('backend:restored', ({ backend }) => set(backend.id, 'ejected', false));
  lb.on('breaker:open', ({ backend }) => {
    set(backend, 'open', true);
    bump(trace, `event: breaker open during ${faultSince.get(backend)?.kind ?? 'no fault'}`);
  });
  lb.on('breaker:half-open', ({ backend }) => set(backend, 'open', false));
  lb.on('breaker:close', ({ backend }) => set(backend, 'open', false));
  lb.on('request', ({ method, status, error, attempts, backend }) => {
    if (status < 500) return;
    const own = (backend && [...(flags.get(backend) ?? [])].sort().join('+')) || 'in service';
    const fault = backend ? (faultSince.get(backend)?.kind ?? 'no fault') : 'no backend';
    bump(trace, `${status} ${error ?? ''}: ${method}, ${attempts} attempt(s), last backend ${own}, ${fault}`);
  });
  lb.on('upstream:error', ({ backend, message }) => {
    if (!message.includes('mid-body')) return;
    const fault = faultSince.get(backend);
    const age =
      fault === undefined
        ? 'after its fault'
        : `${Math.min(3000, Math.ceil((Date.now() - fault.at) / 250) * 250)} ms into it`;
    const own = [...(flags.get(backend) ?? [])].sort().join('+') || 'in service';
    const others: string[] = [];
    for (const [id, f] of flags) if (id !== backend && f.size > 0) others.push([...f].sort().join('+'));
    bump(trace, `mid-body failure: backend ${own}; others out: ${others.sort().join(', ') || 'none'}`);
    bump(trace, `mid-body failure: ${age}`);
  });
}

async function run(name: string, options: Omit<LoadBalancerOptions, 'backends'>): Promise<Result> {
  const backends: LoopbackBackend[] = [];
  for (let i = 0; i < BACKENDS; i++) backends.push(await createLoopbackBackend({ id: `b${i}` }));
  const lb = createLoadBalancer({
    ...options,
    backends: backends.map((b) => ({ id: b.id, url: b.url })),
    timeouts: { connect: '500ms', response: '2s', idle: '2s' },
  });
  const front = http.createServer(lb.handler);
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as { port: number }).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  const result: Result = {
    sent: 0,
    succeeded: 0,
    failed: new Map(),
    postsTwice: 0,
    lost: 0,
    chaos: new Map(),
    trace: new Map(),
  };
  const faultSince = new Map<string, { kind: string; at: number }>();
  if (TRACE) traceEvents(lb, result.trace, faultSince);
  const postsSeen = new Map<string, number>();
  const collect = () => {
    for (const b of backends) {
      for (const r of b.requests) if (r.method === 'POST') postsSeen.set(r.url, (postsSeen.get(r.url) ?? 0) + 1);
      b.clearRequests();
    }
  };

  // The chaos schedule: the same seed gives both runs the same faults at the same times.
  const random = seeded(SEED);
  const troubled = new Set<LoopbackBackend>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void | Promise<void>) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void fn();
    }, ms);
    timers.add(timer);
  };
  const chaos = setInterval(() => {
    collect();
    const b = backends[Math.floor(random() * BACKENDS)] as LoopbackBackend;
    const pick = random();
    if (ONLY !== undefined && !ONLY.has(KINDS[Math.min(4, Math.floor(pick / 0.2))] as string)) return;
    // At most half the backends in trouble at once: a balancer cannot answer with no backend left.
    if (pick < 0.8 && (troubled.has(b) || troubled.size >= BACKENDS / 2)) return;
    if (pick < 0.2) {
      bump(result.chaos, 'kill + restart');
      faultSince.set(b.id, { kind: 'kill', at: Date.now() });
      troubled.add(b);
      void b.down();
      later(FAULT_MS, async () => {
        await b.up();
        faultSince.delete(b.id);
        troubled.delete(b);
      });
    } else if (pick < 0.4) {
      bump(result.chaos, 'slow (400 ms)');
      faultSince.set(b.id, { kind: 'slow', at: Date.now() });
      troubled.add(b);
      b.setLatency(400);
      later(FAULT_MS, () => {
        b.setLatency(0);
        faultSince.delete(b.id);
        troubled.delete(b);
      });
    } else if (pick < 0.6) {
      bump(result.chaos, 'reset mid-body');
      faultSince.set(b.id, { kind: 'mid-body', at: Date.now() });
      troubled.add(b);
      void b.fail('close-mid-body');
      later(FAULT_MS, async () => {
        await b.fail(null);
        faultSince.delete(b.id);
        troubled.delete(b);
      });
    } else if (pick < 0.8) {
      bump(result.chaos, 'reset before headers');
      faultSince.set(b.id, { kind: 'reset', at: Date.now() });
      troubled.add(b);
      void b.fail('reset');
      later(FAULT_MS, async () => {
        await b.fail(null);
        faultSince.delete(b.id);
        troubled.delete(b);
      });
    } else {
      bump(result.chaos, 'reweight');
      lb.updateBackend(b.id, { weight: 1 + Math.floor(random() * 5) });
    }
  }, TICK_MS);

  const end = Date.now() + SECONDS * 1000;
  let n = 0;
  async function worker(): Promise<void> {
    while (Date.now() < end) {
      const i = n++;
      result.sent++;
      const reason = await send(agent, port, i);
      if (reason === 'ok') result.succeeded++;
      else if (reason === 'lost') result.lost++;
      else bump(result.failed, reason);
    }
  }
  process.stdout.write(`${name}: ${SECONDS} s, ${CONCURRENCY} concurrent... `);
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(chaos);
  for (const timer of timers) clearTimeout(timer);
  collect();
  for (const count of postsSeen.values()) if (count > 1) result.postsTwice++;
  console.log('done');

  agent.destroy();
  front.closeAllConnections();
  await new Promise<void>((resolve) => front.close(() => resolve()));
  await lb.close();
  await Promise.all(backends.map((b) => b.close()));
  return result;
}

const resilient = await run('with breakers, retries, health checks', {
  healthCheck: { path: '/health', interval: '250ms', unhealthyThreshold: 2, healthyThreshold: 1 },
});
const bare = await run('with breakers, retries, health checks off', {
  circuitBreaker: false,
  retry: false,
  outlierDetection: false,
});

const reasons = [...new Set([...resilient.failed.keys(), ...bare.failed.keys()])].sort();
const pct = (part: number, whole: number) => (whole === 0 ? '' : ` (${((part / whole) * 100).toFixed(2)}%)`);
const failedTotal = (r: Result) => [...r.failed.values()].reduce((a, b) => a + b, 0);
const rows: Array<[string, string, string]> = [
  ['requests sent', String(resilient.sent), String(bare.sent)],
  [
    'succeeded',
    `${resilient.succeeded}${pct(resilient.succeeded, resilient.sent)}`,
    `${bare.succeeded}${pct(bare.succeeded, bare.sent)}`,
  ],
  [
    'failed',
    `${failedTotal(resilient)}${pct(failedTotal(resilient), resilient.sent)}`,
    `${failedTotal(bare)}${pct(failedTotal(bare), bare.sent)}`,
  ],
  ...reasons.map((reason): [string, string, string] => [
    `  failed: ${reason}`,
    String(resilient.failed.get(reason) ?? 0),
    String(bare.failed.get(reason) ?? 0),
  ]),
  ['POSTs that reached a backend twice', String(resilient.postsTwice), String(bare.postsTwice)],
  ['responses lost (no answer in 15 s)', String(resilient.lost), String(bare.lost)],
];
const chaosKinds = [...resilient.chaos.entries()].map(([k, v]) => `${k} ${v}`).join(', ');
const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0), i === 0 ? 0 : 26));
const line = (r: readonly string[]) =>
  `| ${r[0]?.padEnd(widths[0] ?? 0)} | ${r[1]?.padStart(widths[1] ?? 0)} | ${r[2]?.padStart(widths[2] ?? 0)} |`;
console.log(
  `\nchaos: ${SECONDS} s per run, ${CONCURRENCY} concurrent, ${BACKENDS} loopback backends, seed ${SEED}, every ${TICK_MS} ms one of: ${chaosKinds}\n`,
);
console.log(line(['', 'breakers+retries+health', 'all off']));
console.log(
  `|${'-'.repeat((widths[0] ?? 0) + 2)}|${'-'.repeat((widths[1] ?? 0) + 2)}|${'-'.repeat((widths[2] ?? 0) + 2)}|`,
);
for (const row of rows) console.log(line(row));
if (TRACE) {
  console.log('\ntrace (CHAOS_TRACE=1):');
  const keys = [...new Set([...resilient.trace.keys(), ...bare.trace.keys()])].sort();
  for (const key of keys) console.log(`  ${key}: ${resilient.trace.get(key) ?? 0} | ${bare.trace.get(key) ?? 0}`);
}
const broken = resilient.postsTwice + resilient.lost + bare.postsTwice + bare.lost;
process.exit(broken === 0 ? 0 : 1);
