import cluster, { type Worker } from 'node:cluster';
import { readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { optionsSchema } from '../options/options.js';
import {
  type CliSettings,
  type ConfigFile,
  ConfigFileError,
  configFileJsonSchema,
  ENV_OVERRIDES,
  errorLocation,
  parseConfigFile,
} from './config-file.js';
import { type BoundListener, type ProxyInstance, startProxy } from './server.js';

/** Where the CLI writes and what environment `${VAR}` and the overrides read. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

/** A proxy started by {@link runCli}. */
export interface RunningProxy {
  /** The first listener's bound port (useful with `--port 0`). */
  readonly port: number;
  /** The first listener's bound address. */
  readonly host: string;
  /** Every public listener, bound. */
  listeners(): BoundListener[];
  readonly instance: ProxyInstance;
  /** The CLI settings in force (the last file applied). */
  settings(): CliSettings;
  /**
   * Re-reads the config file and applies it (what SIGHUP does). Resolves
   * `true` when applied; `false` when the file was refused, after one line
   * on stderr naming the file, line, column and option path.
   */
  reload(): Promise<boolean>;
  /** Stops accepting, lets in-flight requests finish (up to `shutdownTimeout`), closes everything. Idempotent. */
  close(): Promise<void>;
}

/** Exit code of a usage or configuration error. */
export const EXIT_CONFIG = 2;

const USAGE = `Usage:
  switchyard --config <file.yaml> [--port <port>] [--host <host>]
  switchyard --check --config <file.yaml>   validate the file, print "ok"
  switchyard --schema                       print the JSON Schema of the config file
  switchyard --help | --version

Options:
  -c, --config <file>   YAML config: listeners, routes, pools (or one pool's options
                        at the top level), admin, metrics, log, accessLog, workers
                        (\${VAR} reads the environment)
  -p, --port <port>     overrides the first listener's port (0: any free port)
      --host <host>     overrides the first listener's host
      --check           validate only; exit 0, or 2 with file:line:column and the problem

Environment (over the file, under the flags):
  ${Object.entries(ENV_OVERRIDES)
    .map(([name, option]) => `${name} -> ${option}`)
    .join('\n  ')}

Signals: SIGHUP reloads the file (and the certificates); SIGTERM/SIGINT stop gracefully.
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
 * One line describing a config problem: `file:line:column: message`, with
 * the environment variable when one set the option.
 *
 * @example
 * ```ts
 * import { describeConfigError } from './main.js';
 * declare const config: Parameters<typeof describeConfigError>[2];
 * describeConfigError('switchyard.yaml', error, config); // 'switchyard.yaml:6:14: Invalid option ...'
 * ```
 */
export function describeConfigError(file: string, error: unknown, config?: ConfigFile): string {
  if (error instanceof ConfigFileError) {
    const at = error.location ? `:${error.location.line}:${error.location.col}` : '';
    return `${file}${at}: ${error.message}`;
  }
  if (error instanceof ConfigError) {
    const found = errorLocation(error);
    const location = found.location ?? (found.env ? undefined : config?.locate(error.path));
    const env = found.env ?? config?.fromEnv(error.path);
    return `${file}${location ? `:${location.line}:${location.col}` : ''}: ${error.message}${env ? ` (set by ${env})` : ''}`;
  }
  return `${file}: ${errorText(error)}`;
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

type Flags = ReturnType<typeof parse>['values'];

/** Reads and parses the file with the flags applied; throws what {@link describeConfigError} explains. */
async function load(file: string, flags: Flags, env: CliIo['env']): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`cannot read the file: ${errorText(error)}`);
  }
  const config = parseConfigFile(text, env);
  const first = config.cli.listeners[0];
  if (first && flags.port !== undefined) first.port = parsePort(flags.port);
  if (first && flags.host !== undefined) first.host = flags.host;
  return config;
}

function check(io: CliIo): (file: string, flags: Flags) => Promise<ConfigFile> {
  return async (file, flags) => {
    const config = await load(file, flags, io.env);
    // Build everything a run would (pools, routes, certificates, admin), bind nothing.
    let instance: ProxyInstance;
    try {
      instance = await startProxy({ ...config, cli: { ...config.cli, log: false, accessLog: false } }, io, {
        listen: false,
      });
    } catch (error) {
      throw Object.assign(error as object, { config });
    }
    await instance.close(0);
    return config;
  };
}

/**
 * Runs the `switchyard` command line in this process. Returns an exit code
 * for commands that end (`--help`, `--version`, `--schema`, `--check`,
 * errors: 2 for a usage or configuration problem, 1 when a port cannot be
 * bound), or the {@link RunningProxy} once it listens. Signals and workers
 * are left to the caller (see {@link main}).
 *
 * @example
 * ```ts
 * import { runCli } from './main.js';
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
  options: { worker?: number } = {},
): Promise<number | RunningProxy> {
  const usage = (message: string) => fail(io, message, EXIT_CONFIG);
  let flags: Flags;
  try {
    flags = parse(argv).values;
  } catch (error) {
    return usage(`${errorText(error)}\n\n${USAGE}`);
  }
  if (flags.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (flags.version) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (flags.schema) {
    io.stdout.write(`${JSON.stringify(configFileJsonSchema(optionsSchema), null, 2)}\n`);
    return 0;
  }
  if (flags.config === undefined) return usage(`--config <file> is required\n\n${USAGE}`);
  const file = flags.config;
  if (flags.check) {
    try {
      await check(io)(file, flags);
    } catch (error) {
      if (isConfigProblem(error))
        return usage(describeConfigError(file, error, (error as { config?: ConfigFile }).config));
      throw error;
    }
    io.stdout.write('ok\n');
    return 0;
  }
  let config: ConfigFile;
  try {
    config = await load(file, flags, io.env);
  } catch (error) {
    if (isConfigProblem(error)) return usage(describeConfigError(file, error));
    throw error;
  }
  let instance: ProxyInstance;
  try {
    instance = await startProxy(config, io, options.worker === undefined ? {} : { worker: options.worker });
  } catch (error) {
    if (isConfigProblem(error)) return usage(describeConfigError(file, error, config));
    return fail(io, `cannot listen: ${errorText(error)}`, 1);
  }
  const listeners = instance.listeners();
  const first = listeners[0] as BoundListener;
  const shown = listeners
    .map((l) => `${l.protocol}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`)
    .join(', ');
  const pools = instance.router.poolNames().length;
  const line = `switchyard ${version()} listening on ${shown} (${pools} pool${pools === 1 ? '' : 's'}${
    instance.adminPort === undefined ? '' : `, admin on ${instance.adminPort}`
  }${instance.metricsPort === undefined ? '' : `, metrics on ${instance.metricsPort}`})`;
  io.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: line, pid: process.pid, listeners })}\n`,
  );

  let reloading: Promise<boolean> = Promise.resolve(true);
  let current = config;
  return {
    settings: () => current.cli,
    port: first.port,
    host: first.host,
    listeners: () => instance.listeners(),
    instance,
    reload() {
      // One reload at a time: a burst of SIGHUPs applies the file once per signal, in order.
      reloading = reloading.then(async () => {
        let next: ConfigFile | undefined;
        try {
          next = await load(file, flags, io.env);
          await instance.reload(next);
          current = next;
          io.stdout.write(
            `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'configuration reloaded', file })}\n`,
          );
          return true;
        } catch (error) {
          io.stderr.write(
            `switchyard: reload refused, the running configuration stays: ${describeConfigError(file, error, next)}\n`,
          );
          return false;
        }
      });
      return reloading;
    },
    close: () => instance.close(),
  };
}

function isConfigProblem(error: unknown): boolean {
  return error instanceof ConfigError || error instanceof ConfigFileError;
}

function fail(io: CliIo, message: string, code: number): number {
  io.stderr.write(`switchyard: ${message}\n`);
  return code;
}

/** Calls `onChange` shortly after `file` changes (its directory is watched, so a rename-into-place counts). */
function watchFile(file: string, onChange: () => void): () => void {
  const dir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, { persistent: false }, (_event, changed) => {
    if (changed !== null && String(changed) !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
  });
  watcher.on('error', () => {});
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}

function workerCount(setting: ConfigFile['cli']['workers']): number {
  return setting === 'auto' ? Math.max(1, os.availableParallelism()) : setting;
}

/**
 * The primary of `workers: N`: forks the workers (each runs the whole proxy
 * and shares the listening sockets through node:cluster), replaces one that
 * dies, validates the file itself on SIGHUP (one log line when refused)
 * before passing the signal on, and on SIGTERM/SIGINT stops every worker
 * gracefully and exits 0.
 */
async function runPrimary(argv: readonly string[], file: string, flags: Flags, config: ConfigFile): Promise<void> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  const count = workerCount(config.cli.workers);
  const workers = new Map<number, Worker>();
  const ready = new Set<number>();
  let stopping = false;
  cluster.setupPrimary({ args: [...argv] });
  const started = new Map<number, number>();
  const fork = (slot: number) => {
    started.set(slot, Date.now());
    const worker = cluster.fork({ SWITCHYARD_WORKER_INDEX: String(slot) });
    workers.set(slot, worker);
    worker.on('message', (message: unknown) => {
      if ((message as { type?: string })?.type === 'ready') ready.add(slot);
    });
    worker.on('exit', (code, signal) => {
      if (workers.get(slot) !== worker) return;
      workers.delete(slot);
      const wasReady = ready.delete(slot);
      if (stopping) {
        if (workers.size === 0) process.exit(0);
        return;
      }
      if (!wasReady) {
        // It never started: the same file would fail again, so stop rather than fork in a loop.
        process.stderr.write(`switchyard: worker ${slot} failed to start (exit ${code ?? signal}), stopping\n`);
        stopping = true;
        for (const w of workers.values()) w.process.kill('SIGTERM');
        process.exitCode = code === EXIT_CONFIG ? EXIT_CONFIG : 1;
        if (workers.size === 0) process.exit(process.exitCode);
        return;
      }
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: 'worker died, starting another', worker: slot, pid: worker.process.pid, code, signal })}\n`,
      );
      // A worker that keeps dying right after starting is restarted at most once a second.
      const lived = Date.now() - (started.get(slot) ?? 0);
      if (lived >= 1000) fork(slot);
      else setTimeout(() => !stopping && fork(slot), 1000 - lived);
    });
  };
  for (let slot = 1; slot <= count; slot++) fork(slot);
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: `switchyard primary started ${count} workers`, pid: process.pid, workers: count })}\n`,
  );
  const validate = check(io);
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      try {
        const next = await validate(file, flags);
        if (workerCount(next.cli.workers) !== count) {
          process.stderr.write('switchyard: a change of workers takes a restart; applying the rest\n');
        }
        for (const w of workers.values()) w.process.kill('SIGHUP');
      } catch (error) {
        process.stderr.write(
          `switchyard: reload refused, the running configuration stays: ${describeConfigError(file, error, (error as { config?: ConfigFile }).config)}\n`,
        );
      }
    });
  };
  process.on('SIGHUP', reload);
  const unwatch = config.cli.watch ? watchFile(file, reload) : undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      for (const w of workers.values()) w.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    unwatch?.();
    process.stdout.write(`switchyard: ${signal}, stopping ${workers.size} workers\n`);
    for (const w of workers.values()) w.process.kill('SIGTERM');
    if (workers.size === 0) process.exit(0);
    // A worker that outlives its own deadline is killed.
    setTimeout(() => {
      for (const w of workers.values()) w.process.kill('SIGKILL');
    }, config.cli.shutdownTimeout + 5000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * The `switchyard` executable: runs {@link runCli} on `process.argv` (or,
 * with `workers` above 1, a node:cluster primary whose workers do), sets
 * the exit code; SIGHUP reloads the file, SIGTERM/SIGINT close the proxy
 * gracefully and exit 0 (a second signal exits 1 at once).
 *
 * @example
 * ```ts
 * // bin/switchyard.js does this, importing it from '../dist/cli/main.js'
 * import { main } from './main.js';
 * await main();
 * ```
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // A log reader that went away (`switchyard --schema | head`, a dead pipe) costs the lines, never the process.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  let flags: Flags | undefined;
  try {
    flags = parse(argv).values;
  } catch {
    flags = undefined;
  }
  if (
    cluster.isPrimary &&
    flags?.config !== undefined &&
    !flags.check &&
    !flags.help &&
    !flags.version &&
    !flags.schema
  ) {
    let config: ConfigFile;
    try {
      config = await load(flags.config, flags, io.env);
    } catch (error) {
      if (!isConfigProblem(error)) throw error;
      process.exitCode = fail(io, describeConfigError(flags.config, error), EXIT_CONFIG);
      return;
    }
    if (workerCount(config.cli.workers) > 1) {
      await runPrimary(argv, flags.config, flags, config);
      return;
    }
  }
  // Taken before the proxy listens (Node's default for SIGHUP ends the process) and never
  // handed over: removing a signal's last listener would drop a signal already caught.
  let early: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGHUP') early ??= signal;
    else early = signal;
  };
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(signal, (s) => onSignal(s));
  const slot = cluster.isWorker ? Number(process.env.SWITCHYARD_WORKER_INDEX ?? cluster.worker?.id) : undefined;
  const result = await runCli(argv, io, slot === undefined ? {} : { worker: slot });
  if (typeof result === 'number') {
    process.exitCode = result;
    if (cluster.isWorker) process.exit(result);
    return;
  }
  if (cluster.isWorker) process.send?.({ type: 'ready' });
  // In a worker the primary watches the file and passes SIGHUP on.
  const unwatch =
    flags?.config !== undefined && !cluster.isWorker && result.settings().watch
      ? watchFile(flags.config, () => void result.reload())
      : undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // In a worker the primary escalates; in a lone process a second signal means now.
      if (!cluster.isWorker) process.exit(1);
      return;
    }
    stopping = true;
    if (unwatch) unwatch();
    process.stdout.write(`switchyard: ${signal}, closing\n`);
    result.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`switchyard: close failed: ${errorText(error)}\n`);
        process.exit(1);
      },
    );
  };
  onSignal = (signal) => {
    if (signal === 'SIGHUP') {
      if (!stopping) void result.reload();
    } else stop(signal);
  };
  if (early !== undefined) onSignal(early);
}
