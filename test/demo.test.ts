import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { request } from './helpers.js';

const demo = fileURLToPath(new URL('../examples/demo.ts', import.meta.url));

describe('npm run demo', () => {
  it('balances over three backends, prints who answered, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', demo], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', () => {
          const match = /balancer on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (match && out.includes('Ctrl-C')) resolve(Number(match[1]));
        });
        child.once('exit', () => reject(new Error(`demo exited early:\n${out}`)));
      });
      const answered: string[] = [];
      for (let i = 0; i < 3; i++) answered.push((await request(port)).json<{ backend: string }>().backend);
      expect(answered.sort()).toEqual(['alpha', 'bravo', 'charlie']);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toMatch(/GET -> alpha 200/);
      expect(out).toContain('stopped');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
