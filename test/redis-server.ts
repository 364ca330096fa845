import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, inject } from 'vitest';
import { redisPing } from './ping.js';

const run = promisify(execFile);

/** Whether `redis-server` and `redis-cli` are on PATH (see test/global-setup.ts: required under CI=true). */
export const redisServerAvailable: boolean = inject('redisServerAvailable');

/**
 * `describe` for suites that start their own `redis-server` (to restart,
 * flush or stop it, or to build a Redis Cluster): skipped with the notice the
 * global setup printed when the binary is missing; under CI that is an error.
 */
export const describeRedisServer = describe.skipIf(!redisServerAvailable);

/** A `redis-server` this test run started on a private loopback port. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** Stops it for good (SIGKILL: nothing is saved); resolves once the process is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  dispose(): Promise<void>;
}

function randomPort(): number {
  // Below 55535: a cluster node also listens on port + 10000.
  return 20_000 + Math.floor(Math.random() * 35_000);
}

function ping(port: number): Promise<boolean> {
  return redisPing('127.0.0.1', port, 500);
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    // Polling a child process we started: there is no event to wait for.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function spawnServer(port: number, extra: readonly string[], dir: string): ChildProcess {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  child.on('error', () => {});
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts an empty, non-persistent `redis-server` on a random private port
 * (retrying another port if the first is taken).
 */
export async function startRedisServer(extra: readonly string[] = []): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-redis-'));
  for (let tries = 0; ; tries++) {
    const port = randomPort();
    let child: ChildProcess | undefined = spawnServer(port, extra, dir);
    const up = await waitFor(() => ping(port), `redis-server on ${port}`, 3000).then(
      () => true,
      () => false,
    );
    if (!up) {
      child.kill('SIGKILL');
      await exited(child);
      if (tries < 3) continue;
      throw new Error('could not start redis-server');
    }
    const server: PrivateRedis = {
      port,
      url: `redis://127.0.0.1:${port}`,
      async stop() {
        const current = child;
        child = undefined;
        if (!current) return;
        current.kill('SIGKILL');
        await exited(current);
      },
      async start() {
        if (child) return;
        child = spawnServer(port, extra, dir);
        await waitFor(() => ping(port), `redis-server restart on ${port}`);
      },
      async dispose() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return server;
  }
}

/** A 3-master Redis Cluster on private ports, made with `redis-cli --cluster create`. */
export interface PrivateCluster {
  readonly nodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Starts 3 `redis-server --cluster-enabled yes` nodes and joins them into a
 * cluster of 3 masters (slots split by `redis-cli --cluster create`); resolves
 * once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<PrivateCluster> {
  // A port taken by someone else (or its bus port, +10000) fails the start: try other ports.
  for (let tries = 1; ; tries++) {
    try {
      return await startClusterOnce();
    } catch (error) {
      if (tries >= 3) throw error;
    }
  }
}

async function startClusterOnce(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-cluster-'));
  const base = randomPort();
  const ports = [base, base + 1, base + 2];
  const children = ports.map((port) =>
    spawnServer(
      port,
      ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
      dir,
    ),
  );
  const stop = async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A node that exited (its port or bus port taken) fails at once, so another set of ports is tried;
    // a slow start on a loaded machine gets a generous bound.
    await Promise.all(
      ports.map((port, i) =>
        waitFor(
          async () => {
            const child = children[i]!;
            if (child.exitCode !== null || child.signalCode !== null) throw new Error(`cluster node ${port} exited`);
            return ping(port);
          },
          `cluster node ${port}`,
          30_000,
        ),
      ),
    );
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], {
      timeout: 20_000,
    });
    const clusterOk = async (port: number) => {
      const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
      return stdout.includes('cluster_state:ok');
    };
    await Promise.all(ports.map((port) => waitFor(() => clusterOk(port), `cluster state ok on ${port}`, 15_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
