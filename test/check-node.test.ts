import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const script = path.join(root, 'scripts', 'check-node.mjs');

// The system Node on these machines (and many CI images) is older than the
// engines range: the case the pre-scripts exist for.
const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((candidate) => {
  if (!existsSync(candidate)) return false;
  const version = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 12);
});

describe('the Node version check before npm test and npm run demo', () => {
  it('passes silently on the running Node', async () => {
    const { stdout, stderr } = await run(process.execPath, [script], { cwd: root });
    expect(stdout + stderr).toBe('');
  });

  it.skipIf(!oldNode)('stops an older Node with a message naming both versions', () => {
    const result = spawnSync(oldNode!, [script], { cwd: root, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /switchyard-lb needs Node\.js 22\.12\.0 or newer \(engines: ">=22\.12"\); this is Node\.js 2[01]\./,
    );
    expect(result.stderr).toContain('nvm use');
  });

  it.skipIf(!oldNode || !existsSync(path.join(path.dirname(oldNode ?? ''), 'npm')))(
    'makes `npm test` and `npm run demo` on an older Node end with that message, not a crash',
    () => {
      const env = { ...process.env, PATH: `${path.dirname(oldNode!)}:${process.env.PATH}` };
      for (const args of [['test'], ['run', 'demo']]) {
        const result = spawnSync('npm', args, { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain('needs Node.js 22.12.0 or newer');
        expect(result.stdout + result.stderr).not.toMatch(/groupBy|vitest|TypeError/);
      }
    },
  );
});
