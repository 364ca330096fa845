import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type RunningProxy, runCli } from '../src/cli/main.ts';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.ts';
import { certKit } from './certs.js';
import { request } from './helpers.js';
import { REDIS_URL, redisAvailable } from './redis.js';

// Every file in examples/ runs here, the way its header says to run it, so
// none can rot. They import 'switchyard-lb' by name: tsx maps it to src/
// through tsconfig.json `paths` (in an installed copy it is the package).
const run = promisify(execFile);
const examples = fileURLToPath(new URL('../examples/', import.meta.url));

async function example(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', ...args, `${examples}${file}`], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return stdout;
}

describe('examples/', () => {
  it('has a smoke test for every example', async () => {
    const files = (await readdir(examples, { recursive: true })).filter((f) => !f.endsWith('.md')).sort();
    expect(files).toEqual([
      'cli',
      'cli/prometheus.yml',
      'cli/switchyard.yaml',
      'demo.ts', // test/demo.test.ts
      'express.ts',
      'fastify.ts',
      'grafana-dashboard.json',
      'http.ts',
      'https-single-pool.yaml', // test/config-schema.test.ts (schema and parser) and below (--check)
      'koa.ts',
      'redis-cluster.yaml', // test/config-schema.test.ts and below (--check)
      'redis-instances.ts',
      'rollout.ts',
      'testing',
      'testing/node-test.test.ts',
      'testing/vitest.test.ts', // collected by vitest itself (vitest.config.ts)
      'two-services.yaml', // test/config-schema.test.ts and below (--check)
    ]);
  });

  it('http.ts balances round robin on a plain server', async () => {
    expect(await example('http.ts')).toBe('200 a /hello?i=0\n200 b /hello?i=1\n200 a /hello?i=2\n200 b /hello?i=3\n');
  });

  it('express.ts strips the mount path and leaves bodies after it to express.json()', async () => {
    const out = await example('express.ts');
    expect(out).toContain('proxied 200 {"backend":"users","method":"GET","url":"/users?page=2"}');
    expect(out).toContain('posted 200 {"name":"ada"}');
    expect(out).toContain('local 200 {"local":true,"got":{"x":1}}');
  });

  it('koa.ts proxies /api and leaves the rest to Koa', async () => {
    const out = await example('koa.ts');
    expect(out).toContain('proxied 200 {"backend":"api","method":"GET","url":"/api/orders"}');
    expect(out).toContain('local 200 {"local":true,"path":"/about"}');
  });

  it('fastify.ts hands the raw body to the balancer and keeps Fastify parsing elsewhere', async () => {
    const out = await example('fastify.ts');
    expect(out).toContain('proxied 200 /api/users body intact');
    expect(out).toContain('local 200 {"local":true,"got":{"x":1}}');
  });

  it('rollout.ts completes a good rollout and rolls a bad one back', async () => {
    const out = await example('rollout.ts');
    expect(out).toContain('completed; now serving v2-a, v2-b');
    expect(out).toContain('rolled-back (rolled back: true); now serving v2-a, v2-b');
  });

  it.skipIf(!redisAvailable)('redis-instances.ts shares membership and a rate limit over Redis', async () => {
    const out = await example('redis-instances.ts', [], { REDIS_URL });
    expect(out).toBe('west backends: a, b\nstatuses: 200 200 200 429\n');
  });

  it('testing/node-test.test.ts passes under node --test', async () => {
    const out = await example('testing/node-test.test.ts', ['--test', '--test-reporter=tap']);
    expect(out).toMatch(/^# pass 1$/m);
    expect(out).toMatch(/^# fail 0$/m);
  });

  it('grafana-dashboard.json is a dashboard over switchyard_ series', async () => {
    const dashboard = JSON.parse(await readFile(`${examples}grafana-dashboard.json`, 'utf8')) as { panels: unknown[] };
    expect(dashboard.panels.length).toBeGreaterThan(0);
    expect(JSON.stringify(dashboard)).toContain('switchyard_requests_total');
  });

  describe('cli/', () => {
    const backends: LoopbackBackend[] = [];
    let proxy: RunningProxy | undefined;
    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
      await Promise.all(backends.splice(0).map((b) => b.close()));
    });
    const io = (env: Record<string, string>) => {
      let out = '';
      let err = '';
      return {
        io: {
          stdout: { write: (t: string) => (out += t) },
          stderr: { write: (t: string) => (err += t) },
          env,
        },
        out: () => out,
        err: () => err,
      };
    };
    const env = { METRICS_TOKEN: 'metrics-token-0123456789', ADMIN_TOKEN: 'admin-token-0123456789' };

    it.each(['two-services.yaml', 'https-single-pool.yaml', 'redis-cluster.yaml'])(
      '%s passes --check',
      async (file) => {
        // The TLS examples read their certificates from TLS_* / API_* (made here, never committed).
        const kit = certKit();
        const site = kit.server('site', ['example.com', '*.example.com']);
        const api = kit.server('api', ['api.example.com']);
        const tlsEnv = { TLS_CERT: site.certFile, TLS_KEY: site.keyFile, API_CERT: api.certFile, API_KEY: api.keyFile };
        try {
          const cli = io({ ...env, ...tlsEnv, REDIS_URL });
          expect(await runCli(['--check', '--config', `${examples}${file}`], cli.io), cli.err()).toBe(0);
          expect(cli.out()).toBe('ok\n');
        } finally {
          kit.remove();
        }
      },
    );

    it('switchyard.yaml passes --check', async () => {
      const cli = io(env);
      expect(await runCli(['--check', '--config', `${examples}cli/switchyard.yaml`], cli.io)).toBe(0);
      expect(cli.out()).toBe('ok\n');
    });

    it('switchyard.yaml serves traffic and the metrics prometheus.yml scrapes', async () => {
      backends.push(await createLoopbackBackend({ id: 'app-1' }), await createLoopbackBackend({ id: 'app-2' }));
      const cli = io({ ...env, APP_1_URL: backends[0]!.url, APP_2_URL: backends[1]!.url });
      const result = await runCli(
        ['--config', `${examples}cli/switchyard.yaml`, '--port', '0', '--host', '127.0.0.1'],
        { ...cli.io, env: { ...cli.io.env, SWITCHYARD_METRICS_PORT: '0', SWITCHYARD_ADMIN_PORT: '0' } },
      );
      expect(typeof result).toBe('object');
      proxy = result as RunningProxy;
      expect((await request(proxy.port, { path: '/x' })).status).toBe(200);

      const scrape = parse(await readFile(`${examples}cli/prometheus.yml`, 'utf8')) as {
        scrape_configs: {
          metrics_path: string;
          authorization: { type: string };
          static_configs: { targets: string[] }[];
        }[];
      };
      const job = scrape.scrape_configs[0]!;
      const file = parse(await readFile(`${examples}cli/switchyard.yaml`, 'utf8')) as {
        metrics: { port: number; path: string };
      };
      expect(job.metrics_path).toBe(file.metrics.path);
      expect(job.static_configs[0]!.targets[0]).toMatch(new RegExp(`:${file.metrics.port}$`));
      expect(job.authorization.type).toBe('Bearer');

      // Metrics are not on the public port; they answer on their own listener, behind the token.
      // (the public port sends /metrics to the application like any path).
      expect((await request(proxy.port, { path: job.metrics_path })).text).not.toMatch(/switchyard_requests_total/);
      const metricsPort = proxy.instance.metricsPort;
      expect(metricsPort).toBeTypeOf('number');
      expect((await request(metricsPort!, { path: job.metrics_path })).status).toBe(401);
      const metrics = await request(metricsPort!, {
        path: job.metrics_path,
        headers: { authorization: `Bearer ${env.METRICS_TOKEN}` },
      });
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^switchyard_requests_total\{.*backend="app-[12]".*\} 1$/m);
    });
  });
});
