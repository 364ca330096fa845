import { execFileSync } from 'node:child_process';
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
  provide: (key: 'redisAvailable' | 'redisServerAvailable', value: boolean) => void;
}) {
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
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisAvailable: boolean;
    redisServerAvailable: boolean;
  }
}
