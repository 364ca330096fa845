import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createLoadBalancer, type LoadBalancer } from '../balancer.js';
import { ConfigError } from '../core/errors.js';
import { optionsJsonSchema } from '../options/json-schema.js';
import { type ConfigFile, ConfigFileError, parseConfigFile } from './config-file.js';
import { jsonLogger } from './json-logger.js';

/** Where the CLI writes and what environment `${VAR}` reads. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

/** A proxy started by {@link runCli}. */
export interface RunningProxy {
  /** The bound port (useful with `--port 0`). */
  readonly port: number;
  readonly host: string;
  readonly server: http.Server;
  readonly lb: LoadBalancer;
  /** Stops accepting, lets in-flight requests finish (up to `drainTimeout`), closes everything. Idempotent. */
  close(): Promise<void>;
}

/** Exit code of a usage or configuration error. */
export const EXIT_CONFIG = 2;

const USAGE = `Usage:
  switchyard --config <file.yaml> [--port <port>] [--host <host>]
  switchyard --check --config <file.yaml>   validate the file, print "ok"
  switchyard --schema                       print the JSON Schema of the options
  switchyard --help | --version

Options:
  -c, --config <file>   YAML config: listen, admin, metricsPath, log, and every
                        createLoadBalancer option that is data (\${VAR} reads the environment)
  -p, --port <port>     overrides listen.port (0: any free port)
      --host <host>     overrides listen.host
      --check           validate only; exit 0, or 2 with the problem
`;

function version(): string {
  // src/cli and dist/cli both sit two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new ConfigError('--port', text, 'an integer port from 0 to 65535');
  return port;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs the `switchyard` command line. Returns an exit code for commands that
 * end (`--help`, `--version`, `--schema`, `--check`, errors: 2 for a usage or
 * configuration problem, 1 when the port cannot be bound), or the
 * {@link RunningProxy} once it listens. Signals are left to the caller (see {@link main}).
 *
 * @example
 * ```ts
 * const proxy = await runCli(['--config', 'switchyard.yaml', '--port', '0']);
 * if (typeof proxy !== 'number') {
 *   console.log(proxy.port);
 *   await proxy.close();
 * }
 * ```
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number | RunningProxy> {
  const usage = (message: string) => fail(io, message, EXIT_CONFIG);
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    return usage(`${errorText(error)}\n\n${USAGE}`);
  }
  const { values } = args;
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (values.schema) {
    io.stdout.write(`${JSON.stringify(optionsJsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (values.config === undefined) return usage(`--config <file> is required\n\n${USAGE}`);

  const file = values.config;
  let config: ConfigFile;
  let lb: LoadBalancer;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return usage(`cannot read ${file}: ${errorText(error)}`);
  }
  try {
    config = parseConfigFile(text, io.env);
    if (values.port !== undefined) config.cli.listen.port = parsePort(values.port);
    if (values.host !== undefined) config.cli.listen.host = values.host;
    const level = config.cli.log === true ? 'info' : config.cli.log;
    // --check stays quiet: closing its balancer would log (e.g. the Redis connection ending).
    const options =
      level && !values.check
        ? { ...config.options, logger: jsonLogger((line) => io.stdout.write(line), level) }
        : config.options;
    // --check builds the balancer exactly as a run would (strategy, ids and
    // cross-option rules are only checked there), then closes it unused.
    lb = createLoadBalancer(options);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ConfigFileError) return usage(`${file}: ${error.message}`);
    throw error;
  }
  let admin: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const adminSettings = config.cli.admin;
  try {
    if (adminSettings) {
      admin = lb.admin({
        token: adminSettings.token,
        prefix: adminSettings.path,
        ...(adminSettings.maxBodyBytes === undefined ? {} : { maxBodyBytes: adminSettings.maxBodyBytes }),
      });
    }
  } catch (error) {
    await lb.close();
    if (error instanceof ConfigError) return usage(`${file}: ${error.message}`);
    throw error;
  }
  if (values.check) {
    await lb.close();
    io.stdout.write('ok\n');
    return 0;
  }
  return serve(lb, config, admin, io);
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      check: { type: 'boolean' },
      schema: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

function under(pathname: string, prefix: string): boolean {
  return pathname === prefix || pathname.startsWith(prefix === '/' ? prefix : `${prefix}/`);
}

async function serve(
  lb: LoadBalancer,
  config: ConfigFile,
  admin: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined,
  io: CliIo,
): Promise<number | RunningProxy> {
  const adminPath = config.cli.admin?.path;
  const metricsPath = config.cli.metricsPath;
  const handler =
    admin === undefined && metricsPath === false
      ? lb.handler
      : (req: IncomingMessage, res: ServerResponse) => {
          const url = req.url ?? '/';
          const q = url.indexOf('?');
          const pathname = q === -1 ? url : url.slice(0, q);
          if (admin && adminPath && under(pathname, adminPath)) return admin(req, res);
          if (metricsPath !== false && pathname === metricsPath) return lb.metricsHandler(req, res);
          return lb.handler(req, res);
        };
  const server = http.createServer(handler);
  server.on('upgrade', lb.upgrade);
  const { port, host } = config.cli.listen;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await lb.close();
    return fail(io, `cannot listen on ${host ?? '*'}:${port}: ${errorText(error)}`, 1);
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const count = lb.backends().length;
  const line = `switchyard ${version()} listening on http://${shown}:${address.port} (${count} backend${count === 1 ? '' : 's'})`;
  if (config.cli.log === false) io.stdout.write(`${line}\n`);
  else jsonLogger((text) => io.stdout.write(text), 'info').info({ address: address.address, port: address.port }, line);

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    host: address.address,
    server,
    lb,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // In-flight requests finish (up to drainTimeout); new ones on kept-alive sockets get 503.
        await lb.close();
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

function fail(io: CliIo, message: string, code: number): number {
  io.stderr.write(`switchyard: ${message}\n`);
  return code;
}

/**
 * The `switchyard` executable: runs {@link runCli} on `process.argv`, sets
 * the exit code, and on SIGINT/SIGTERM closes the proxy gracefully and exits 0
 * (a second signal exits 1 at once).
 *
 * @example
 * ```ts
 * // bin/switchyard.js
 * import { main } from '../dist/cli/main.js';
 * await main();
 * ```
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const result = await runCli(argv);
  if (typeof result === 'number') {
    process.exitCode = result;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`switchyard: ${signal}, closing\n`);
    result.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`switchyard: close failed: ${errorText(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
