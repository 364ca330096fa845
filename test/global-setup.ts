import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDashboard } from '../dashboard/build.js';

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
  const available = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.write('PING\r\n');
    });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
  if (!available) {
    if (process.env.CI === 'true') {
      throw new Error(`Redis is required in CI but does not answer at ${url.host}`);
    }
    console.warn(`\n  NOTICE: Redis does not answer at ${url.host}; Redis test suites are SKIPPED.\n`);
  }
  provide('redisAvailable', available);
  return () => rmSync(dashboardAssets, { recursive: true, force: true });
}

interface ProvidedKeys {
  redisAvailable: boolean;
  dashboardAssets: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisAvailable: boolean;
    /** Folder holding the dashboard built from the current source. */
    dashboardAssets: string;
  }
}
