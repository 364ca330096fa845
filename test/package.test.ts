import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

// Packs the package the way `npm publish` would (prepare builds dist from
// src), installs the tarball into a scratch project, and uses it there. The
// pack happens in a copy of the sources so the worktree's own dist/ is never
// rebuilt under a test that may be reading it.
let work: string;
let tarball: string;
let app: string;

/** Runs a script in the scratch project with the current node; resolves with stdout. */
async function node(args: string[], cwd = app): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd, timeout: 20_000 });
  return stdout;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'switchyard-pack-'));
  const source = path.join(work, 'source');
  await mkdir(source);
  for (const entry of [
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'README.md',
    'CHANGELOG.md',
    'LICENSE',
    'src',
    'bin',
    'scripts',
    // The dashboard's UI source: `npm run build` bundles it into dist/dashboard.
    'dashboard',
  ]) {
    await cp(path.join(root, entry), path.join(source, entry), { recursive: true });
  }
  await symlink(path.join(root, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  const packed = await run(npm, ['pack', '--json', '--pack-destination', work], { cwd: source, timeout: 150_000 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[];
  tarball = path.join(work, info!.filename);

  app = path.join(work, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  // Dependencies come from npm's cache (filled by `npm ci`); the network is only a fallback.
  try {
    await run(
      npm,
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--omit=dev', tarball],
      // Beside the rest of the suite on a slow 2-core machine this took over 90 s once (18 s alone).
      { cwd: app, timeout: 240_000 },
    );
  } catch (error) {
    // Say why: execFile's message alone does not tell a timeout from npm's own failure.
    const e = error as { killed?: boolean; signal?: string; stderr?: string };
    throw new Error(
      `npm install of the packed tarball failed (${e.killed ? `killed by ${e.signal}, past its timeout` : 'npm failed'}):\n${e.stderr ?? ''}`,
    );
  }
  // `npm pack` builds (tsc and the dashboard bundle): a minute of wall time on a loaded 2-core machine.
}, 420_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const smoke = (load: string) => `
${load}
const a = testing.createMemoryBackend({ id: 'a' });
const lb = lib.createLoadBalancer({ backends: [a.config] });
const server = http.createServer(lb.handler);
server.listen(0, '127.0.0.1', () => {
  http.get({ port: server.address().port, host: '127.0.0.1', path: '/hi', agent: false }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', async () => {
      console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(body), isError: new lib.ConfigError('x', 1, 'y') instanceof lib.SwitchyardError }));
      server.close();
      await lb.close();
      await a.close();
    });
  });
});
`;

describe('the packed package', () => {
  it('ships the build, the CLI and the docs files, without tests or source maps', async () => {
    const files = (await readdir(path.join(app, 'node_modules', 'switchyard-lb'), { recursive: true })).map((f) =>
      f.split(path.sep).join('/'),
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
        'bin/switchyard.js',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/testing/index.js',
        'dist/testing/index.d.ts',
        'dist/dashboard/index.html',
      ]),
    );
    expect(files.some((f) => /^dist\/dashboard\/assets\/app-[\w-]+\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => /\.test\.|\.map$|^src\//.test(f))).toEqual([]);
  });

  it.each([
    [
      'an ES module (import)',
      'esm.mjs',
      "import http from 'node:http';\nimport * as lib from 'switchyard-lb';\nimport * as testing from 'switchyard-lb/testing';",
    ],
    [
      'CommonJS (require)',
      'cjs.cjs',
      "const http = require('node:http');\nconst lib = require('switchyard-lb');\nconst testing = require('switchyard-lb/testing');",
    ],
  ])('loads both entry points from %s and forwards a request', async (_kind, file, load) => {
    await writeFile(path.join(app, file), smoke(load));
    const out = JSON.parse(await node([file]));
    expect(out).toEqual({ status: 200, body: { backend: 'a', method: 'GET', url: '/hi' }, isError: true });
  });

  it('loads the dependencies of features that are off only when they are turned on', async () => {
    // require.cache lists every CommonJS module loaded, imported ones included.
    await writeFile(
      path.join(app, 'cost.cjs'),
      `
const loaded = () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file);
    if (m) names.add(m[1]);
  }
  return ['ioredis', 'prom-client', 'opossum', 'rate-limiter-flexible'].filter((n) => names.has(n));
};
import('switchyard-lb').then(async (lib) => {
  const out = { imported: loaded() };
  const backends = [{ id: 'a', url: 'http://127.0.0.1:9' }]; // never contacted
  const lean = lib.createLoadBalancer({ backends, metrics: false, circuitBreaker: false });
  out.allOff = loaded();
  const defaults = lib.createLoadBalancer({ backends });
  out.defaults = loaded();
  const limited = lib.createLoadBalancer({ backends, rateLimit: { points: 1, duration: '1s' } });
  out.rateLimited = loaded();
  await Promise.all([lean.close(), defaults.close(), limited.close()]);
  console.log(JSON.stringify(out));
});
`,
    );
    expect(JSON.parse(await node(['cost.cjs']))).toEqual({
      imported: [],
      allOff: [],
      defaults: ['prom-client', 'opossum'],
      rateLimited: ['prom-client', 'opossum', 'rate-limiter-flexible'],
    });
  });

  it('installs the switchyard command', async () => {
    const out = await node([path.join(app, 'node_modules', '.bin', 'switchyard'), '--version']);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('passes publint with no problems', async () => {
    const { stdout } = await run(bin('publint'), ['run', tarball, '--strict'], { cwd: work, timeout: 30_000 });
    expect(stdout).toMatch(/All good!/);
  });

  it('passes are-the-types-wrong for an ESM-only package', async () => {
    // ESM-only on purpose: on Node >= 22.12 require() loads ES modules, so a
    // CommonJS build would only add the dual-package hazard. The esm-only
    // profile still checks node16-from-ESM and bundler resolution.
    const { stdout } = await run(
      bin('attw'),
      [tarball, '--profile', 'esm-only', '--no-definitely-typed', '--format', 'json'],
      {
        cwd: work,
        timeout: 30_000,
      },
    );
    const report = JSON.parse(stdout) as { problems: Record<string, { resolutionKind?: string }[]> };
    const counted = Object.values(report.problems)
      .flat()
      .filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(counted).toEqual([]);
  });
});
