// biome-ignore-all lint/style/noNonNullAssertion: fixtures made in beforeAll
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';
import { type CertKit, certKit, type Pem } from './certs.js';

const NODE = process.execPath;
const BIN = path.join(import.meta.dirname, 'cli-bin.ts');
let dir: string;
let kit: CertKit;
const backends: LoopbackBackend[] = [];
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-cli-proc-'));
  kit = certKit();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  kit.remove();
});
afterEach(async () => {
  for (const child of children.splice(0)) await child.kill();
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

interface Line {
  msg?: string;
  level?: string;
  pid?: number;
  listeners?: { protocol: string; port: number }[];
  [key: string]: unknown;
}

/** A spawned `switchyard`, its output split into lines. */
class Child {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(args: string[], env: Record<string, string> = {}) {
    this.proc = spawn(NODE, ['--import', 'tsx', BIN, ...args], {
      cwd: path.join(import.meta.dirname, '..'),
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (c: Buffer) => {
      this.out += c.toString();
      this.#wake();
    });
    this.proc.stderr?.on('data', (c: Buffer) => {
      this.err += c.toString();
      this.#wake();
    });
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        this.#wake();
        resolve(code);
      }),
    );
    children.push(this);
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  #parsed: Line[] = [];
  #consumed = 0;

  /** The JSON lines so far (parsed once each: a busy child writes thousands). */
  lines(): Line[] {
    const end = this.out.lastIndexOf('\n');
    if (end >= this.#consumed) {
      for (const l of this.out.slice(this.#consumed, end).split('\n')) {
        if (l.startsWith('{')) this.#parsed.push(JSON.parse(l) as Line);
      }
      this.#consumed = end + 1;
    }
    return this.#parsed;
  }

  /** Resolves with the first output line matching, as it arrives (bounded by `ms`). */
  async waitFor(match: (line: Line) => boolean, ms = 15_000, what = 'a line'): Promise<Line> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines().find(match);
      if (found) return found;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no ${what}; stdout:\n${this.out}\nstderr:\n${this.err}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 250).unref();
      });
    }
  }

  async waitForText(text: string, stream: 'out' | 'err' = 'out', ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(stream === 'out' ? this.out : this.err).includes(text)) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null || Date.now() > deadline)
        throw new Error(`no "${text}"; stdout:\n${this.out}\nstderr:\n${this.err}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 250).unref();
      });
    }
  }

  listening(): Promise<Line> {
    return this.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('listening on'), 20_000, 'listening line');
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
}

let n = 0;
function file(text: string, name = `config-${++n}.yaml`): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function backend(id: string, handler?: http.RequestListener): Promise<LoopbackBackend> {
  const b = await createLoopbackBackend(handler ? { id, handler } : { id });
  backends.push(b);
  return b;
}

interface Got {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function get(port: number, pathname: string, options: https.RequestOptions & { secure?: boolean } = {}): Promise<Got> {
  const { secure, ...rest } = options;
  const lib = secure ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request({ host: '127.0.0.1', port, path: pathname, agent: false, ...rest }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The subject CN of the certificate a TLS server presents for `servername`. */
function presented(port: number, servername: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: kit.ca.cert }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn[0] : cn);
    });
    socket.on('error', reject);
  });
}

function portOf(line: Line, protocol = 'http'): number {
  return line.listeners!.find((l) => l.protocol === protocol)!.port;
}

describe('switchyard as a process', () => {
  it('exits 2 naming the file, line and column of a bad option', async () => {
    const cfg = file(
      'listeners:\n  - port: 0\npools:\n  api:\n    backends:\n      - url: ftp://nope\nroutes:\n  - { prefix: /, pool: api }\n',
    );
    const child = new Child(['--check', '--config', cfg]);
    expect(await child.exited).toBe(2);
    expect(child.err).toContain(`${cfg}:6:14: Invalid option pools.api.backends[0].url`);
  });

  it('serves HTTP and HTTPS listeners and routes by host and path to two pools', async () => {
    const api = await backend('api');
    const web = await backend('web');
    const cert = kit.server('edge', ['edge.test']);
    const cfg = file(`
listeners:
  - { port: 0, host: 127.0.0.1 }
  - { port: 0, host: 127.0.0.1, tls: { cert: ${cert.certFile}, key: ${cert.keyFile} } }
pools:
  api: { backends: [{ id: api, url: "${api.url}" }] }
  web: { backends: [{ id: web, url: "${web.url}" }] }
routes:
  - { host: api.test, pool: api }
  - { prefix: /api, rewrite: { stripPrefix: true }, pool: api }
  - { pool: web }
log: false
`);
    const child = new Child(['-c', cfg]);
    const line = await child.listening();
    const plain = portOf(line, 'http');
    const secure = portOf(line, 'https');
    expect(JSON.parse((await get(plain, '/x', { headers: { host: 'api.test' } })).body)).toMatchObject({
      backend: 'api',
      url: '/x',
    });
    expect(JSON.parse((await get(plain, '/api/users?id=1')).body)).toMatchObject({
      backend: 'api',
      url: '/users?id=1',
    });
    expect(JSON.parse((await get(plain, '/page')).body)).toMatchObject({ backend: 'web', url: '/page' });
    const overTls = await get(secure, '/page', { secure: true, ca: kit.ca.cert, servername: 'edge.test' });
    expect(JSON.parse(overTls.body)).toMatchObject({ backend: 'web' });
    expect(web.requests.at(-1)?.headers['x-forwarded-proto']).toBe('https');
  });

  it('chooses the certificate by SNI, wildcards included, and reloads certificates on SIGHUP and on file change', async () => {
    const web = await backend('web');
    const a = kit.server('sni-a', ['a.test']);
    const b = kit.server('sni-b', ['*.b.test']);
    const live: Pem = { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key'), cert: '', key: '' };
    copyFileSync(a.certFile, live.certFile);
    copyFileSync(a.keyFile, live.keyFile);
    const cfg = file(`
listeners:
  - port: 0
    host: 127.0.0.1
    tls:
      cert: ${live.certFile}
      key: ${live.keyFile}
      certificates:
        - { names: ["*.b.test"], cert: ${b.certFile}, key: ${b.keyFile} }
backends: [{ id: web, url: "${web.url}" }]
log: info
`);
    const child = new Child(['-c', cfg]);
    const port = portOf(await child.listening(), 'https');
    expect(await presented(port, 'a.test')).toBe('a.test');
    expect(await presented(port, 'x.b.test')).toBe('*.b.test');
    // A new default certificate, picked up through the file watch.
    const c = kit.server('sni-c', ['c.test']);
    copyFileSync(c.keyFile, live.keyFile);
    copyFileSync(c.certFile, live.certFile);
    await child.waitFor((l) => l.msg === 'certificates reloaded', 10_000, 'reload on file change');
    expect(await presented(port, 'c.test')).toBe('c.test');
    // And through SIGHUP.
    copyFileSync(a.keyFile, live.keyFile);
    copyFileSync(a.certFile, live.certFile);
    const before = child.lines().filter((l) => l.msg === 'configuration reloaded').length;
    child.proc.kill('SIGHUP');
    await child.waitFor(
      () => child.lines().filter((l) => l.msg === 'configuration reloaded').length > before,
      10_000,
      'reload',
    );
    expect(await presented(port, 'a.test')).toBe('a.test');
  });

  it('requires a client certificate with mTLS and forwards the verified subject', async () => {
    const web = await backend('web');
    const server = kit.server('mtls', ['mtls.test']);
    const cfg = file(`
listeners:
  - port: 0
    host: 127.0.0.1
    tls:
      cert: ${server.certFile}
      key: ${server.keyFile}
      clientAuth: { ca: ${kit.ca.certFile}, header: x-client-subject }
backends: [{ id: web, url: "${web.url}" }]
log: false
`);
    const child = new Child(['-c', cfg]);
    const port = portOf(await child.listening(), 'https');
    const alice = kit.client('alice', 'alice');
    const ok = await get(port, '/', {
      secure: true,
      ca: kit.ca.cert,
      servername: 'mtls.test',
      cert: alice.cert,
      key: alice.key,
      headers: { 'x-client-subject': 'CN=forged' },
    });
    expect(ok.status).toBe(200);
    expect(web.requests.at(-1)?.headers['x-client-subject']).toBe('CN=alice,O=switchyard-test');
    await expect(get(port, '/', { secure: true, ca: kit.ca.cert, servername: 'mtls.test' })).rejects.toThrow();
    const stranger = kit.client('mallory', 'mallory', kit.otherCa('rogue-ca'));
    await expect(
      get(port, '/', {
        secure: true,
        ca: kit.ca.cert,
        servername: 'mtls.test',
        cert: stranger.cert,
        key: stranger.key,
      }),
    ).rejects.toThrow();
    expect(web.requests).toHaveLength(1);
  });

  it('reloads 10 times under load without a failed request, and refuses a bad file naming its line', async () => {
    const pool = await Promise.all(['r1', 'r2', 'r3'].map((id) => backend(id)));
    const config = (i: number) => {
      const set = i % 2 === 0 ? [pool[0]!, pool[1]!] : [pool[1]!, pool[2]!];
      return `
listeners: [{ port: 0, host: 127.0.0.1 }]
pools:
  main:
    backends:
${set.map((b, k) => `      - { id: ${b.id}, url: "${b.url}", weight: ${1 + ((i + k) % 3)} }`).join('\n')}
    retry: { attempts: ${i % 4 === 0 ? 3 : 2} }
  side: { backends: [{ id: side, url: "${pool[2]!.url}" }] }
routes:
  - { prefix: /side, pool: side }
  - { pool: main }
log: info
`;
    };
    const cfg = file(config(0), 'reload.yaml');
    const child = new Child(['-c', cfg]);
    const port = portOf(await child.listening());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const load = async () => {
      while (!stop) {
        try {
          const reply = await get(port, ok % 5 === 0 ? '/side/x' : '/x', { agent } as https.RequestOptions);
          if (reply.status === 200) ok++;
          else failures.push(`${reply.status} ${reply.body}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const loops = Array.from({ length: 6 }, load);
    for (let i = 1; i <= 10; i++) {
      writeFileSync(cfg, config(i));
      const before = child.lines().filter((l) => l.msg === 'configuration reloaded').length;
      child.proc.kill('SIGHUP');
      await child.waitFor(
        () => child.lines().filter((l) => l.msg === 'configuration reloaded').length > before,
        10_000,
        `reload ${i}`,
      );
      // Traffic flows between two reloads, so each one happens under load.
      const seen = ok;
      for (let wait = 0; ok < seen + 5 && wait < 400; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    writeFileSync(cfg, config(11).replace('- { pool: main }', '- { pool: nowhere }'));
    child.proc.kill('SIGHUP');
    await child.waitForText('reload refused', 'err', 10_000);
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    if (process.env.SWITCHYARD_REPORT) console.log(`reload under load: ${ok} ok, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    const refusal = child.err.split('\n').filter((l) => l.includes('reload refused'));
    expect(refusal).toHaveLength(1);
    expect(refusal[0]).toMatch(/reload\.yaml:\d+:\d+: Invalid option routes\[1\]\.pool/);
    // The running configuration stays.
    expect(JSON.parse((await get(port, '/x')).body).backend).toMatch(/^r[123]$/);
  }, 45_000);

  it('finishes a slow in-flight request on SIGTERM, closes idle keep-alive connections and exits 0', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const slow = await backend('slow', (req, res) => {
      if (req.url !== '/slow') {
        res.end('quick');
        return;
      }
      arrived();
      void released.then(() => res.end('done'));
    });
    const cfg = file(
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: slow, url: "${slow.url}" }]\nshutdownTimeout: 10s\nlog: false\n`,
    );
    const child = new Child(['-c', cfg]);
    const port = portOf(await child.listening());
    const idleAgent = new http.Agent({ keepAlive: true });
    const idleSocketClosed = new Promise<void>((resolve) => {
      idleAgent.once('free', (socket) => socket.once('close', () => resolve()));
    });
    expect((await get(port, '/idle', { agent: idleAgent } as https.RequestOptions)).body).toBe('quick');
    const pending = get(port, '/slow');
    await inFlight;
    // Released once the proxy reports the signal, so the request really is in flight at SIGTERM.
    child.proc.kill('SIGTERM');
    await child.waitForText('SIGTERM, closing');
    await expect(get(port, '/new')).rejects.toThrow();
    release();
    const reply = await pending;
    expect(reply).toMatchObject({ status: 200, body: 'done' });
    expect(await child.exited).toBe(0);
    // The idle keep-alive connection was closed by the proxy, not by the client.
    await idleSocketClosed;
    idleAgent.destroy();
  });

  it('runs workers, replaces one that dies, and stops them all on SIGTERM', async () => {
    const web = await backend('web');
    const cfg = file(
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: web, url: "${web.url}" }]\nworkers: 2\nlog: false\n`,
    );
    const child = new Child(['-c', cfg]);
    await child.waitFor((l) => l.workers === 2, 20_000, 'primary line');
    const listening = () => child.lines().filter((l) => typeof l.msg === 'string' && l.msg.includes('listening on'));
    await child.waitFor(() => listening().length >= 2, 30_000, 'two workers listening');
    const [first, second] = listening();
    expect(first!.pid).not.toBe(second!.pid);
    const port = portOf(first!);
    expect(portOf(second!)).toBe(port);
    for (let i = 0; i < 4; i++) expect((await get(port, `/w${i}`)).status).toBe(200);
    process.kill(first!.pid!, 'SIGKILL');
    await child.waitFor((l) => l.msg === 'worker died, starting another', 10_000, 'replacement');
    await child.waitFor(() => listening().length >= 3, 30_000, 'replacement listening');
    expect((await get(port, '/after')).status).toBe(200);
    // SIGHUP to the primary reaches every worker: all of them now send to web2.
    const web2 = await backend('web2');
    writeFileSync(
      cfg,
      `listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ id: web2, url: "${web2.url}" }]\nworkers: 2\nlog: false\n`,
    );
    child.proc.kill('SIGHUP');
    await child.waitFor(
      () => child.lines().filter((l) => l.msg === 'configuration reloaded').length >= 2,
      15_000,
      'two workers reloaded',
    );
    for (let i = 0; i < 6; i++) expect(JSON.parse((await get(port, `/r${i}`)).body).backend).toBe('web2');
    // A bad file is refused once, by the primary, and reaches no worker.
    writeFileSync(cfg, 'listen: { port: 0, host: 127.0.0.1 }\nbackends: [{ url: "ftp://x" }]\nworkers: 2\n');
    child.proc.kill('SIGHUP');
    await child.waitForText('reload refused', 'err');
    expect(child.err.match(/reload refused/g)).toHaveLength(1);
    expect(child.err).toMatch(/:2:\d+: Invalid option backends\[0\]\.url/);
    expect(JSON.parse((await get(port, '/still')).body).backend).toBe('web2');
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  }, 50_000);
});
