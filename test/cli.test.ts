// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config files spell environment variables ${VAR}
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { type CliIo, type RunningProxy, runCli } from '../src/cli/main.js';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';
import { rawExchange, request } from './helpers.js';

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
metrics: { port: 9100 }
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

  it('proxies to the file’s backends, serves admin and metrics on their own listeners, and closes', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }), await createLoopbackBackend({ id: 'b' }));
    const cfg = file(`
listen: { port: 8080, host: 127.0.0.1 }
backends:
  - { id: a, url: "${backends[0]!.url}" }
  - { id: b, url: "${backends[1]!.url}" }
strategy: round-robin
admin:
  token: \${TOKEN}
  port: 0
metrics: { port: 0 }
log: false
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
    // The application's own /metrics is the backend's, not the proxy's.
    expect((await request(proxy.port, { path: '/metrics' })).json()).toMatchObject({ url: '/metrics' });

    const metricsPort = proxy.instance.metricsPort as number;
    const metrics = await request(metricsPort, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('pool="default"');

    const adminPort = proxy.instance.adminPort as number;
    expect((await request(adminPort, { path: '/pools' })).status).toBe(401);
    const listed = await request(adminPort, {
      path: '/pools/default/backends',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(listed.status).toBe(200);
    expect(listed.text).toContain('"a"');
    expect(backends[0]!.requests.length + backends[1]!.requests.length).toBe(5);

    await proxy.close();
    await expect(request(proxy.port, { path: '/' })).rejects.toThrow();
    proxy = undefined;
  });

  it('serves the dashboard on the admin listener with admin.dashboard: page with its CSP, login, CSRF', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }), await createLoopbackBackend({ id: 'b' }));
    const cfg = file(`
listen: { host: 127.0.0.1 }
backends:
  - { id: a, url: "${backends[0]!.url}" }
  - { id: b, url: "${backends[1]!.url}" }
admin:
  token: \${TOKEN}
  port: 0
  dashboard: { assets: "${inject('dashboardAssets')}" }
log: false
`);
    const cli = io({ TOKEN });
    const result = await runCli(['--config', cfg, '--port', '0'], cli);
    expect(cli.err()).toBe('');
    proxy = result as RunningProxy;
    const port = proxy.instance.adminPort as number;
    const same = { 'sec-fetch-site': 'same-origin', origin: `http://127.0.0.1:${port}` };

    const page = await request(port, { path: '/dashboard/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');

    expect((await request(port, { path: '/backends' })).status).toBe(401);
    const wrong = await request(port, {
      method: 'POST',
      path: '/session',
      headers: { ...same, 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'not-the-token-at-all-000' }),
    });
    expect(wrong.status).toBe(401);
    const login = await request(port, {
      method: 'POST',
      path: '/session',
      headers: { ...same, 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(login.status).toBe(201);
    const answer = login.json<{ session: { csrfToken: string }; api: string[] }>();
    expect(answer.api).toEqual(expect.arrayContaining(['/routes', '/pools', '/backends', '/config', '/stats']));
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    expect(String(login.headers['set-cookie'])).toMatch(/HttpOnly/i);

    // The session reads the router's API and the default pool's backends.
    const pools = await request(port, { path: '/pools', headers: { cookie } });
    expect(pools.status).toBe(200);
    expect(pools.text).toContain('"default"');
    const listed = await request(port, { path: '/backends', headers: { cookie } });
    expect(listed.status).toBe(200);
    expect(listed.json<{ backends: { id: string }[] }>().backends.map((b) => b.id)).toEqual(['a', 'b']);
    // Its traffic history counts the pool's requests through the router.
    for (let i = 0; i < 3; i++) expect((await request(proxy.port, { path: `/x/${i}` })).status).toBe(200);
    const stats = await request(port, { path: '/stats', headers: { cookie } });
    expect(stats.status).toBe(200);
    expect(stats.json<{ totals: { rps: number } }>().totals.rps).toBeGreaterThan(0);

    // A mutation needs the CSRF token; with it, it goes through to the pool.
    const patch = (headers: Record<string, string>) =>
      request(port, {
        method: 'PATCH',
        path: '/backends/a',
        headers: { ...same, cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ weight: 5 }),
      });
    const refused = await patch({});
    expect(refused.status).toBe(403);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('ERR_CSRF');
    const crossSite = await patch({ 'x-csrf-token': answer.session.csrfToken, 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const patched = await patch({ 'x-csrf-token': answer.session.csrfToken });
    expect(patched.status).toBe(200);
    expect(patched.json<{ backend: { weight: number } }>().backend.weight).toBe(5);
    const viaPool = await request(port, { path: '/pools/default/backends/a', headers: { cookie } });
    expect(viaPool.json<{ backend: { weight: number } }>().backend.weight).toBe(5);

    await proxy.close();
    proxy = undefined;
  });

  it('logs JSON lines to stdout, the balancer request lines at debug', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(
      `backends: [{ id: a, url: "${backends[0]!.url}" }]\nlog: debug\naccessLog: true\nlisten: { host: 127.0.0.1 }\n`,
    );
    const cli = io();
    proxy = (await runCli(['-c', cfg, '-p', '0'], cli)) as RunningProxy;
    expect((await request(proxy.port, { path: '/x' })).status).toBe(200);
    const lines = cli
      .out()
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { level?: string; msg?: string; path?: string; target?: string; status?: number },
      );
    expect(lines[0]!.msg).toContain('listening on');
    expect(lines.some((line) => line.path === '/x')).toBe(true);
    // The access log line: client, target, status, bytes, backend, route.
    expect(lines.find((line) => line.target === '/x')).toMatchObject({
      client: '127.0.0.1',
      status: 200,
      backend: 'a',
      pool: 'default',
    });
  });

  it('opens, keeps and closes listeners on reload, and refuses a bad file keeping the running ones', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }), await createLoopbackBackend({ id: 'b' }));
    const body = (extra: string, backend: LoopbackBackend) =>
      `listeners:\n  - { name: main, port: 0, host: 127.0.0.1 }\n${extra}backends: [{ id: ${backend.id}, url: "${backend.url}" }]\nlog: false\n`;
    const cfg = file(body('', backends[0]!));
    const cli = io();
    proxy = (await runCli(['-c', cfg], cli)) as RunningProxy;
    const main = proxy.port;
    writeFileSync(cfg, body('  - { name: extra, port: 0, host: 127.0.0.1, keepAliveTimeout: 1s }\n', backends[1]!));
    expect(await proxy.reload()).toBe(true);
    const ports = proxy.listeners().map((l) => l.port);
    expect(ports[0]).toBe(main);
    const extra = ports[1] as number;
    expect((await request(extra, { path: '/' })).json()).toMatchObject({ backend: 'b' });
    expect((await request(main, { path: '/' })).json()).toMatchObject({ backend: 'b' });
    writeFileSync(cfg, `${body('', backends[1]!)}bogus: 1\n`);
    expect(await proxy.reload()).toBe(false);
    expect(cli.err()).toMatch(/reload refused.*config-\d+\.yaml:5:8: Invalid option bogus/);
    expect((await request(extra, { path: '/' })).status).toBe(200);
    writeFileSync(cfg, body('', backends[0]!));
    expect(await proxy.reload()).toBe(true);
    expect(proxy.listeners().map((l) => l.port)).toEqual([main]);
    await expect(request(extra, { path: '/' })).rejects.toThrow();
    expect((await request(main, { path: '/' })).json()).toMatchObject({ backend: 'a' });
  });

  it('changes backends and run-time policies in place on reload, and rebuilds a pool for other options', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }), await createLoopbackBackend({ id: 'b' }));
    const [a, b] = backends as [LoopbackBackend, LoopbackBackend];
    const cfg = file(
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: a, url: "${a.url}" }]\nretry: { attempts: 2 }\nlog: false\n`,
    );
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    const first = proxy.instance.router.pool('default');
    writeFileSync(
      cfg,
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: a, url: "${a.url}", weight: 3 }, { id: b, url: "${b.url}" }]\n` +
        'retry: { attempts: 3 }\nstrategy: least-connections\nlog: false\n',
    );
    expect(await proxy.reload()).toBe(true);
    const same = proxy.instance.router.pool('default');
    expect(same).toBe(first);
    expect(same?.backends().map((x) => [x.id, x.weight])).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
    expect(same?.config.retry).toMatchObject({ attempts: 3 });
    writeFileSync(
      cfg,
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: b, url: "${b.url}" }]\ntimeouts: { connect: 1s }\nlog: false\n`,
    );
    expect(await proxy.reload()).toBe(true);
    const rebuilt = proxy.instance.router.pool('default');
    expect(rebuilt).not.toBe(first);
    expect(rebuilt?.backends().map((x) => x.id)).toEqual(['b']);
    expect((await request(proxy.port, { path: '/' })).json()).toMatchObject({ backend: 'b' });
  });

  it('hardens each listener with its own settings: header size, Host required', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(
      `listeners:\n  - { port: 0, host: 127.0.0.1, maxHeaderSize: 1024 }\n  - { name: big, port: 0, host: 127.0.0.1 }\n` +
        `backends: [{ id: a, url: "${backends[0]!.url}" }]\nlog: false\n`,
    );
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    const [small, big] = proxy.listeners().map((l) => l.port) as [number, number];
    const head = `GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ${'p'.repeat(2000)}\r\nConnection: close\r\n\r\n`;
    expect(await rawExchange(small, head)).toMatch(/^HTTP\/1\.1 431/);
    expect(await rawExchange(big, head)).toMatch(/^HTTP\/1\.1 200/);
    expect(await rawExchange(big, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(backends[0]!.requests).toHaveLength(1);
  });

  it('writes the access log to a file rotated by size', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const logs = mkdtempSync(path.join(dir, 'logs-'));
    const target = path.join(logs, 'access.log');
    const cfg = file(
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: a, url: "${backends[0]!.url}" }]\nlog: false\n` +
        `accessLog: { format: combined, to: ${target}, rotate: { size: 1K, maxFiles: 3 } }\n`,
    );
    proxy = (await runCli(['-c', cfg], io())) as RunningProxy;
    for (let i = 0; i < 12; i++) expect((await request(proxy.port, { path: `/item/${i}?token=t0p` })).status).toBe(200);
    await proxy.close();
    proxy = undefined;
    const files = readdirSync(logs);
    expect(files.length).toBeGreaterThan(1);
    // rotating-file-stream keeps a history of the rotated files (for maxFiles) beside them.
    const all = files
      .filter((f) => f.endsWith('access.log'))
      .map((f) => readFileSync(path.join(logs, f), 'utf8'))
      .join('');
    expect(files.filter((f) => f.endsWith('access.log')).length).toBeGreaterThan(1);
    expect(all.trim().split('\n')).toHaveLength(12);
    expect(all).toMatch(
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/item\/0\?token=\*\*\* HTTP\/1\.1" 200 \d+ "-" "-" rt=[\d.]+ backend="a" pool="default" route="routes\[0\]"/m,
    );
    expect(all).not.toContain('t0p');
  });

  it('exits 1 when the port is taken', async () => {
    backends.push(await createLoopbackBackend({ id: 'a' }));
    const cfg = file(`backends: [{ id: a, url: "${backends[0]!.url}" }]\nlisten: { host: 127.0.0.1 }\n`);
    const cli = io();
    expect(await runCli(['-c', cfg, '-p', String(backends[0]!.port)], cli)).toBe(1);
    expect(cli.err()).toContain('cannot listen');
  });
});
