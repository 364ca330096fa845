// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config files spell environment variables ${VAR}
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { type CliIo, type RunningProxy, runCli } from '../src/cli/main.js';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';
import { request } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string): string {
  const name = path.join(dir, `config-${++n}.yaml`);
  writeFileSync(name, text);
  return name;
}

function io(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env,
    out: () => out,
    err: () => err,
  };
}

const TOKEN = 'a-very-secret-admin-token-0123456789';

describe('switchyard --check', () => {
  it('prints ok and exits 0 for a valid file', async () => {
    const cfg = file(`
listen: { port: 8080, host: 127.0.0.1 }
metricsPath: /metrics
backends:
  - url: http://10.0.0.1:8080
  - { url: http://10.0.0.2:8080, weight: 2 }
strategy: round-robin
healthCheck: { path: /healthz, interval: 5s }
retry: { attempts: 2 }
timeouts: { connect: 2s, response: 30s }
`);
    const cli = io();
    expect(await runCli(['--check', '--config', cfg], cli)).toBe(0);
    expect(cli.out()).toBe('ok\n');
    expect(cli.err()).toBe('');
  });

  it('exits 2 naming the path of a bad option', async () => {
    const cli = io();
    const cfg = file('backends:\n  - url: ftp://nope\n');
    expect(await runCli(['--check', '-c', cfg], cli)).toBe(2);
    expect(cli.err()).toContain('backends[0].url');
    expect(cli.out()).toBe('');
  });

  it('exits 2 naming a bad CLI setting', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('listen: { port: 70000 }\n')], cli)).toBe(2);
    expect(cli.err()).toContain('listen.port');
  });

  it('exits 2 naming an unknown top-level key', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('backends: []\nbakends: []\n')], cli)).toBe(2);
    expect(cli.err()).toContain('bakends');
  });

  it('rejects an option only code can give', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('logger: stdout\n')], cli)).toBe(2);
    expect(cli.err()).toContain('logger');
  });

  it('reports cross-option rules that only the balancer checks', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('retry: false\nhedge: { delay: 50ms }\n')], cli)).toBe(2);
    expect(cli.err()).toContain('hedge');
  });

  it('reports a YAML syntax error with its line and column', async () => {
    const cli = io();
    const cfg = file('backends:\n  - url: http://10.0.0.1\n listen: [\n');
    expect(await runCli(['--check', '--config', cfg], cli)).toBe(2);
    expect(cli.err()).toMatch(/YAML syntax error at line \d+, column \d+/);
  });

  it('reports a file that is not a mapping', async () => {
    const cli = io();
    expect(await runCli(['--check', '--config', file('- a\n- b\n')], cli)).toBe(2);
    expect(cli.err()).toContain('mapping');
  });

  it('reports a missing file', async () => {
    const cli = io();
    expect(await runCli(['--check', '--config', path.join(dir, 'absent.yaml')], cli)).toBe(2);
    expect(cli.err()).toContain('cannot read');
  });

  it('rejects an admin token that is too short', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('admin: { token: short }\n')], cli)).toBe(2);
    expect(cli.err()).toContain('admin.token');
  });
});

describe('${VAR} interpolation', () => {
  it('fills string values from the environment', async () => {
    const cli = io({ UPSTREAM: 'http://10.1.2.3:9000' });
    expect(await runCli(['--check', '-c', file('backends:\n  - url: ${UPSTREAM}\n')], cli)).toBe(0);
  });

  it('names the unset variable and where it is used', async () => {
    const cli = io();
    expect(await runCli(['--check', '-c', file('admin:\n  token: ${ADMIN_TOKEN}\n')], cli)).toBe(2);
    expect(cli.err()).toContain('ADMIN_TOKEN');
    expect(cli.err()).toContain('admin.token');
  });

  it('uses the default of ${VAR:-default} and reads $$ as a dollar', async () => {
    const cli = io();
    // A literal "$" in the URL would be rejected, so the result is checked through a field that keeps it.
    expect(
      await runCli(['--check', '-c', file('backends:\n  - url: ${UP:-http://10.0.0.9}\n    id: a$$b\n')], cli),
    ).toBe(2);
    // "a$b" is not a valid id: the error shows the interpolated value.
    expect(cli.err()).toContain('"a$b"');
  });

  it('does not let a value change the document structure', async () => {
    const cli = io({ UPSTREAM: 'http://10.0.0.1\nbogus: 1' });
    expect(await runCli(['--check', '-c', file('backends:\n  - url: ${UPSTREAM}\n')], cli)).toBe(2);
    expect(cli.err()).toContain('backends[0].url');
  });
});

describe('switchyard commands', () => {
  it('prints the JSON Schema of the options with --schema', async () => {
    const cli = io();
    expect(await runCli(['--schema'], cli)).toBe(0);
    const schema = JSON.parse(cli.out()) as { properties: Record<string, unknown> };
    expect(schema.properties.backends).toBeDefined();
  });

  it('prints the usage with --help and the version with --version', async () => {
    const help = io();
    expect(await runCli(['--help'], help)).toBe(0);
    expect(help.out()).toContain('--config');
    const version = io();
    expect(await runCli(['--version'], version)).toBe(0);
    expect(version.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 on an unknown flag or without --config', async () => {
    const unknown = io();
    expect(await runCli(['--confg', 'x'], unknown)).toBe(2);
    expect(unknown.err()).toContain('--confg');
    const missing = io();
    expect(await runCli([], missing)).toBe(2);
    expect(missing.err()).toContain('--config');
  });

  it('rejects a bad --port', async () => {
    const cli = io();
    expect(await runCli(['-c', file('backends: []\n'), '--port', 'eighty'], cli)).toBe(2);
    expect(cli.err()).toContain('--port');
  });
});

describe('switchyard --config (running)', () => {
  let proxy: RunningProxy | undefined;
  const backends: LoopbackBackend[] = [];
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await Promise.all(backends.splice(0).map((b) => b.close()));
  });

  it('proxies to the file’s backends, serves admin and metrics, and closes', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }), await createLoopbackBackend({ id: 'b' }));
    const cfg = file(`
listen: { port: 8080, host: 127.0.0.1 }
backends:
  - { id: a, url: "${backends[0]!.url}" }
  - { id: b, url: "${backends[1]!.url}" }
strategy: round-robin
admin:
  token: \${TOKEN}
metricsPath: /metrics
`);
    const cli = io({ TOKEN });
    const result = await runCli(['--config', cfg, '--port', '0'], cli);
    expect(cli.err()).toBe('');
    expect(typeof result).toBe('object');
    proxy = result as RunningProxy;
    expect(proxy.port).toBeGreaterThan(0);
    expect(cli.out()).toContain(`listening on http://127.0.0.1:${proxy.port}`);

    const served = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const reply = await request(proxy.port, { path: `/hello/${i}` });
      expect(reply.status).toBe(200);
      served.add((reply.json() as { backend: string }).backend);
    }
    expect(served).toEqual(new Set(['a', 'b']));
    expect(backends[0]!.requests.length + backends[1]!.requests.length).toBe(4);

    const metrics = await request(proxy.port, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('# TYPE');

    const denied = await request(proxy.port, { path: '/_switchyard/backends' });
    expect(denied.status).toBe(401);
    const listed = await request(proxy.port, {
      path: '/_switchyard/backends',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(listed.status).toBe(200);
    expect(listed.text).toContain('"a"');
    // The admin and metrics paths never reach a backend.
    expect(backends[0]!.requests.length + backends[1]!.requests.length).toBe(4);

    await proxy.close();
    expect(proxy.server.listening).toBe(false);
    proxy = undefined;
  });

  it('serves the dashboard under the admin path when the file asks for it', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(`
listen: { host: 127.0.0.1 }
backends: [{ id: a, url: "${backends[0]!.url}" }]
admin:
  token: \${TOKEN}
  dashboard: { assets: "${inject('dashboardAssets')}", sessionIdleTimeout: 10m }
`);
    const cli = io({ TOKEN });
    proxy = (await runCli(['-c', cfg, '-p', '0'], cli)) as RunningProxy;
    const page = await request(proxy.port, { path: '/_switchyard/dashboard/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const login = await request(proxy.port, {
      method: 'POST',
      path: '/_switchyard/session',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(login.status).toBe(201);
    expect(String(login.headers['set-cookie'])).toContain('Path=/_switchyard;');
    expect(backends[0]!.requests.length).toBe(0);
  });

  it('logs JSON lines to stdout with log: true', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(`backends: [{ id: a, url: "${backends[0]!.url}" }]\nlog: true\nlisten: { host: 127.0.0.1 }\n`);
    const cli = io();
    proxy = (await runCli(['-c', cfg, '-p', '0'], cli)) as RunningProxy;
    expect((await request(proxy.port, { path: '/x' })).status).toBe(200);
    const lines = cli
      .out()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: string; msg: string; path?: string });
    expect(lines[0]!.msg).toContain('listening on');
    expect(lines.some((line) => line.path === '/x')).toBe(true);
  });

  it('exits 1 when the port is taken', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(`backends: [{ id: a, url: "${backends[0]!.url}" }]\nlisten: { host: 127.0.0.1 }\n`);
    const cli = io();
    expect(await runCli(['-c', cfg, '-p', String(backends[0]!.port)], cli)).toBe(1);
    expect(cli.err()).toContain('cannot listen');
  });
});
