/**
 * What the bench scripts share: the loopback backends, starting a role of a
 * script in its own process, finding tools and free ports.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

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

/** Runs `script` with `args` in its own process; resolves with its first IPC message. */
export function startRole(
  script: string,
  args: string[],
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; message: Record<string, unknown> }> {
  const child = fork(script, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, ...execArgv],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, message: message as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
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
