import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDashboard } from '../dashboard/build.js';
import { redisPing } from './ping.js';

function onPath(binary: string): boolean {
  try {
    execFileSync(binary, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks once whether Redis answers at REDIS_URL (default
 * redis://127.0.0.1:6379). Without it, Redis suites are skipped with a visible
 * notice; under CI (`CI=true`) a missing Redis fails the run instead.
 */
export default async function setup({
  provide,
}: {
  provide: <K extends keyof ProvidedKeys>(key: K, value: ProvidedKeys[K]) => void;
}) {
  // The dashboard's tests serve the current UI source, built once into a private folder.
  const dashboardAssets = mkdtempSync(join(tmpdir(), 'switchyard-dashboard-'));
  await buildDashboard(dashboardAssets);
  provide('dashboardAssets', dashboardAssets);

  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const available = await redisPing(url.hostname, Number(url.port || 6379), 1000);
  if (!available) {
    if (process.env.CI === 'true') {
      throw new Error(`Redis is required in CI but does not answer at ${url.host}`);
    }
    console.warn(`\n  NOTICE: Redis does not answer at ${url.host}; Redis test suites are SKIPPED.\n`);
  }
  provide('redisAvailable', available);
  // Suites that restart, flush or stop Redis, or need a Redis Cluster, start their own redis-server.
  const binaries = onPath('redis-server') && onPath('redis-cli');
  if (!binaries) {
    if (process.env.CI === 'true') {
      throw new Error('redis-server and redis-cli are required in CI (private servers and the Redis Cluster suite)');
    }
    console.warn(
      '\n  NOTICE: redis-server/redis-cli not on PATH; the private-server and Redis Cluster suites are SKIPPED.\n',
    );
  }
  provide('redisServerAvailable', binaries);
  return () => rmSync(dashboardAssets, { recursive: true, force: true });
}

interface ProvidedKeys {
  redisAvailable: boolean;
  redisServerAvailable: boolean;
  dashboardAssets: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisAvailable: boolean;
    redisServerAvailable: boolean;
    /** Folder holding the dashboard built from the current source. */
    dashboardAssets: string;
  }
}
