/**
 * What the bench scripts share: the loopback backends, starting a role of a
 * script in its own process, finding tools and free ports, loading the built
 * switchyard.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Starts `count` tiny loopback backends answering a ~280-byte JSON body,
 * `Cache-Control: no-store` except on `/cacheable` (`public, max-age=600`),
 * with a long keep-alive. Resolves with their ports.
 */
export async function serveBackends(count = 2): Promise<number[]> {
  const body = Buffer.from(JSON.stringify({ ok: true, payload: 'x'.repeat(256) }));
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = http.createServer((req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': body.length,
        'cache-control': req.url === '/cacheable' ? 'public, max-age=600' : 'no-store',
      });
      res.end(body);
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push((server.address() as AddressInfo).port);
  }
  return ports;
}

/**
 * Runs `script` with `args` in its own process; resolves with its first IPC
 * message. Rejects when the process exits before sending it, or sends
 * `{ error }` instead (see {@link reportRoleErrors}): a role that fails never
 * leaves its parent waiting.
 */
export function startRole(
  script: string,
  args: string[],
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; message: Record<string, unknown> }> {
  const child = fork(script, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, ...execArgv],
  });
  child.on('error', () => {}); // a failed send to a dead child: its exit is what rejects
  roles.set(child, args[0] ?? script);
  return nextMessage(child, args[0] ?? script).then((message) => ({ child, message }));
}

/** Sends `message` to a child started by `startRole` and resolves with its next message (rejects as `startRole` does). */
export function ask(child: ChildProcess, message: string): Promise<Record<string, unknown>> {
  const reply = nextMessage(child, roles.get(child) ?? 'child');
  if (child.connected) child.send(message);
  return reply;
}

/** The role each child of `startRole` runs, for error messages. */
const roles = new WeakMap<ChildProcess, string>();

/** The next IPC message of `child`; rejects with its `error` field, or when it exits first (also when it already has). */
function nextMessage(child: ChildProcess, role: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const exited = () => `${role} process exited with ${child.signalCode ?? `code ${child.exitCode}`} before answering`;
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(exited()));
      return;
    }
    const onMessage = (message: unknown) => {
      child.off('exit', onExit);
      const m = message as Record<string, unknown>;
      if (typeof m?.error === 'string') reject(new Error(`${role} process failed: ${m.error}`));
      else resolve(m);
    };
    // 'exit' can be seen before a message the child sent just before it: give the channel a turn to deliver it.
    const onExit = () =>
      setImmediate(() => {
        child.off('message', onMessage);
        reject(new Error(exited()));
      });
    child.once('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resolves when `child` has exited (at once when it already has). */
export function childExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * In a role process: an uncaught error or rejection is sent to the parent as
 * `{ error }` (its stack) before the process exits with code 1, so the
 * parent's `startRole` or `ask` rejects with it.
 */
export function reportRoleErrors(): void {
  const fail = (error: unknown) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`${text}\n`);
    if (process.send && process.connected) process.send({ error: text }, () => process.exit(1));
    else process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}

/** True when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('which', [command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return 0;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Options of the `lean` profile: every optional per-request feature off (select + forward only). */
export const LEAN = {
  retry: false,
  circuitBreaker: false,
  outlierDetection: false,
  queue: false,
  metrics: false,
  requestId: false,
  tracing: false,
  via: false,
} as const;

/** Options of the `policies` profile: rate limit, sticky cookie and cache on top of the defaults. */
export const POLICIES = {
  rateLimit: { points: 1_000_000_000, duration: '1s' },
  sticky: { mode: 'cookie', secret: 'bench-secret-bench-secret-bench-secret-0123' },
  cache: { ttl: '5m', maxEntries: 1000 },
} as const;

/** A switchyard profile of the benches: `lean`, `default`, `policies`, `cache` (defaults plus the cache). */
export type Profile = 'lean' | 'default' | 'policies' | 'cache';

/** The balancer options of `profile` over `targets` on `forwarder`, with `extra` merged over them. */
export function profileOptions(
  profile: string,
  forwarder: string,
  targets: string[],
  extra: object = {},
): Record<string, unknown> {
  const sections: Record<Profile, object> = {
    lean: LEAN,
    default: {},
    policies: POLICIES,
    cache: { cache: POLICIES.cache },
  };
  const own = sections[profile as Profile];
  if (own === undefined) throw new Error(`unknown profile ${profile} (known: ${Object.keys(sections).join(', ')})`);
  return { backends: targets.map((url) => ({ url })), forwarder, ...own, ...extra };
}

/**
 * A contender's request handler: the minimal undici proxy (`undici-min`;
 * `undici-min+default-headers` and `undici-min+policy-headers` add
 * {@link DEFAULT_HEADERS} or {@link POLICY_HEADERS}), bare http-proxy-3
 * (`bare`), or a switchyard {@link Profile} from the built
 * `dist/` (see {@link loadBuilt}), with `close` for the balancer.
 */
export async function contenderHandler(
  name: string,
  forwarder: string,
  targets: string[],
  extra: object = {},
): Promise<{ handler: http.RequestListener; close: () => Promise<void> }> {
  if (name === 'undici-min') return { handler: await minimalUndiciHandler(targets), close: async () => {} };
  if (name === 'undici-min+default-headers')
    return { handler: await minimalUndiciHandler(targets, DEFAULT_HEADERS), close: async () => {} };
  if (name === 'undici-min+policy-headers')
    return { handler: await minimalUndiciHandler(targets, POLICY_HEADERS), close: async () => {} };
  if (name === 'bare') return { handler: await bareHttpProxyHandler(targets), close: async () => {} };
  const options = profileOptions(name, forwarder, targets, extra);
  const { createLoadBalancer } = await loadBuilt();
  const lb = createLoadBalancer(options as Parameters<typeof createLoadBalancer>[0]);
  return { handler: lb.handler, close: () => lb.close() };
}

/** The newest modification time of any `.ts` file (tests excepted) under `dir`, in ms. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The built `dist/index.js` the benches load (what users run: no tsx
 * wrappers in the profile). Throws, saying what to do, when `dist/` is
 * missing or older than `src/`: a bench of stale code measures nothing.
 * `BENCH_DIST` names another build to load instead (before/after runs).
 */
export function builtEntry(): string {
  // Another build to compare with (a copy of an older dist/ inside this checkout, so its imports resolve): as it is.
  const other = process.env.BENCH_DIST;
  if (other) return join(other, 'index.js');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const entry = join(root, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` before benchmarking`);
  const built = statSync(entry).mtimeMs;
  const source = newestSource(join(root, 'src'));
  if (source > built) {
    throw new Error(`dist/ is older than src/ (a source file changed after the build): run \`npm run build\` first`);
  }
  return entry;
}

/** Imports the built switchyard (see {@link builtEntry}). */
export async function loadBuilt(): Promise<typeof import('../src/index.ts')> {
  return (await import(pathToFileURL(builtEntry()).href)) as typeof import('../src/index.ts');
}

/**
 * The `bare` contender: http-proxy-3's `proxy.web` with a keep-alive agent
 * per backend, round robin, a bare 502 on errors.
 */
export async function bareHttpProxyHandler(targets: string[]): Promise<http.RequestListener> {
  const { createProxyServer } = await import('http-proxy-3');
  const proxy = createProxyServer({});
  proxy.on('error', (_err, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 }));
  let next = 0;
  return (req, res) => {
    const i = next++ % targets.length;
    proxy.web(req, res, { target: targets[i], agent: agents[i] });
  };
}

/**
 * Fixed headers the minimal undici proxy can add to each request and
 * response, the same names and value lengths as switchyard's: what undici
 * and Node alone charge for them, whoever computes the values (the
 * `undici-min+...` contenders of `npm run bench:instructions`).
 */
export interface HeaderFloor {
  readonly request?: Readonly<Record<string, string>>;
  readonly response?: Readonly<Record<string, string>>;
}

/** The headers the defaults add: `X-Forwarded-*`, `Forwarded`, `Via`, `X-Request-Id`, `traceparent` up, `Via` and `X-Request-Id` down. */
export const DEFAULT_HEADERS: HeaderFloor = {
  request: {
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': '127.0.0.1:40000',
    forwarded: 'for=127.0.0.1;host="127.0.0.1:40000";proto=http',
    via: '1.1 switchyard',
    'x-request-id': '0cd64f99-f3c5-4a27-aba4-b89f664cb75f',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  },
  response: { via: '1.1 switchyard', 'x-request-id': '0cd64f99-f3c5-4a27-aba4-b89f664cb75f' },
};

/** {@link DEFAULT_HEADERS} plus the six response headers the `policies` profile adds (`X-Cache`, `Set-Cookie`, `RateLimit-*`). */
export const POLICY_HEADERS: HeaderFloor = {
  request: DEFAULT_HEADERS.request,
  response: {
    ...DEFAULT_HEADERS.response,
    'x-cache': 'MISS',
    'set-cookie':
      'switchyard_sticky=MTI3LjAuMC4xOjM2NzU5.tpe1ns.GxV8cYbuZYmmoI0wNX7kc2; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax',
    'ratelimit-limit': '1000000000',
    'ratelimit-remaining': '999999999',
    'ratelimit-reset': '1',
    'ratelimit-policy': '1000000000;w=1',
  },
};

/**
 * The floor for a Node proxy, the `undici-min` contender: an undici Pool per
 * backend, round robin, streaming both ways, no header rules, no timeouts of
 * its own.
 */
export async function minimalUndiciHandler(targets: string[], extra?: HeaderFloor): Promise<http.RequestListener> {
  const { Pool } = await import('undici');
  const pools = targets.map((url) => new Pool(url, { connections: 256, keepAliveTimeout: 4000 }));
  const addRequest = extra?.request ?? {};
  const addResponse = extra?.response ?? {};
  let next = 0;
  const onError = (res: http.ServerResponse) => (error: Error | null) => {
    if (error && !res.headersSent) {
      res.writeHead(502);
      res.end();
    } else if (error) res.destroy();
  };
  if (extra === undefined) {
    // The baseline itself: nothing added, not even an empty loop.
    return (req, res) => {
      const pool = pools[next++ % pools.length] as InstanceType<typeof Pool>;
      pool.stream(
        {
          path: req.url ?? '/',
          method: req.method as 'GET',
          headers: req.headers as Record<string, string>,
          body: req.headers['content-length'] || req.headers['transfer-encoding'] ? req : null,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
          return res;
        },
        onError(res),
      );
    };
  }
  return (req, res) => {
    const pool = pools[next++ % pools.length] as InstanceType<typeof Pool>;
    const upstream = req.headers as Record<string, string>;
    for (const name in addRequest) upstream[name] = addRequest[name] as string;
    pool.stream(
      {
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers: upstream,
        body: req.headers['content-length'] || req.headers['transfer-encoding'] ? req : null,
      },
      ({ statusCode, headers }) => {
        const out = headers as http.OutgoingHttpHeaders;
        for (const name in addResponse) out[name] = addResponse[name];
        res.writeHead(statusCode, out);
        return res;
      },
      onError(res),
    );
  };
}

/** One load run's figures: requests per second, latency percentiles in ms, errors (socket errors and non-2xx/3xx). */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  return n;
}

export function runWrk(url: string, duration: number, connections: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'wrk',
      ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(duration))}s`, '--latency', url],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', () => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const p50 = /\s50%\s+([\d.]+)(us|ms|s)\b/.exec(out);
      const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
      if (!rps || !p50 || !p99) {
        reject(new Error(`cannot read wrk output:\n${out}`));
        return;
      }
      let errors = 0;
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      if (socket) errors += socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      if (non2xx) errors += Number(non2xx[1]);
      resolve({
        rps: Number(rps[1]),
        p50: toMs(p50[1] as string, p50[2] as string),
        p99: toMs(p99[1] as string, p99[2] as string),
        errors,
      });
    });
  });
}

export async function runAutocannon(url: string, duration: number, connections: number): Promise<LoadResult> {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({ url, connections, duration, pipelining: 1 });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Drives `url` for `duration` seconds over `connections` connections with `tool` (`wrk` or `autocannon`). */
export function runLoad(tool: string, url: string, duration: number, connections: number): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(url, duration, connections) : runAutocannon(url, duration, connections);
}

/**
 * A loopback HTTP server for `handler` that counts its requests and this
 * process's CPU time between a parent's `'mark'` and `'report'` IPC messages
 * (replying `{ cpuUs, requests }`), and sends `{ port }` once listening.
 */
export function serveMeasured(handler: http.RequestListener): http.Server {
  let requests = 0;
  let cpu = process.cpuUsage();
  const server = http.createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  process.on('message', (message) => {
    if (message === 'mark') {
      requests = 0;
      cpu = process.cpuUsage();
      process.send?.({ marked: true });
    } else if (message === 'report') {
      const used = process.cpuUsage(cpu);
      process.send?.({ cpuUs: used.user + used.system, requests });
    }
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  return server;
}
