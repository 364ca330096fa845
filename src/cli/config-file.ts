import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { duration, formatPath, parseOptions, positiveInt } from '../core/zod.js';
import type { LoadBalancerOptions } from '../options/options.js';
import { dashboardOptionsSchema } from '../surfaces/admin/dashboard.js';
import { serverHardeningSchema } from '../surfaces/harden-server.js';
import { logLevelSchema } from '../surfaces/observability/options.js';
import { poolNameSchema, type RouteOptions, routesSchema } from '../surfaces/router/options.js';

const port = z.number().int().min(0).max(65535);
const file = z.string().min(1).max(4096);
const SNI_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** A certificate chain and its key, as PEM files. */
const certificateSchema = z.strictObject({
  /** Server names this certificate is chosen for through SNI: exact, or `*.example.com` (one label). */
  names: z
    .array(
      z
        .string()
        .transform((n) => n.toLowerCase())
        .pipe(z.string().regex(SNI_NAME, { error: 'a host name such as "a.example.com" or "*.example.com"' })),
    )
    .min(1),
  /** PEM file of the certificate chain. */
  cert: file,
  /** PEM file of its private key. */
  key: file,
  /** Passphrase of an encrypted key. */
  passphrase: z.string().optional(),
});

/** TLS termination of an `https` listener. */
export const tlsSchema = z
  .strictObject({
    /** PEM file of the default certificate chain (served when no SNI name matches). */
    cert: file.optional(),
    /** PEM file of the default certificate's private key. */
    key: file.optional(),
    /** Passphrase of an encrypted default key. */
    passphrase: z.string().optional(),
    /** More certificates, chosen by the client's SNI name (exact first, then wildcard). @default none */
    certificates: z.array(certificateSchema).max(10_000).optional(),
    /** Mutual TLS: client certificates verified against `ca`. @default off */
    clientAuth: z
      .strictObject({
        /** PEM file of the CA (or CAs) client certificates must chain to. */
        ca: file,
        /** Refuse the handshake without a valid client certificate; `false` accepts anonymous clients too. @default true */
        required: z.boolean().default(true),
        /**
         * Request header carrying the verified subject (`CN=alice,O=example`)
         * to the backend; a client-sent header of that name is always removed. @default none
         */
        header: z
          .string()
          .regex(/^[a-z0-9-]{1,64}$/, { error: 'a lower-case header name' })
          .optional(),
      })
      .optional(),
    /** Oldest TLS version accepted. @default 'TLSv1.2' */
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always the modern set). @default Mozilla "intermediate" */
    ciphers: z.string().min(1).optional(),
    /** Reload the certificate files when they change on disk (SIGHUP always reloads them). @default true */
    watch: z.boolean().default(true),
  })
  .check((ctx) => {
    const tls = ctx.value;
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: tls,
        path: [tls.cert === undefined ? 'cert' : 'key'],
        message: 'cert and key together',
      });
    }
    if (tls.cert === undefined && (tls.certificates?.length ?? 0) === 0) {
      ctx.issues.push({
        code: 'custom',
        input: tls,
        path: ['cert'],
        message: 'a certificate: cert and key, or certificates',
      });
    }
  });

/** Resolved TLS settings of a listener. */
export type TlsSettings = z.output<typeof tlsSchema>;

/** One address the proxy listens on. */
export const listenerSchema = z.strictObject({
  /** Name shown in logs. @default `<protocol>:<host>:<port>` */
  name: z
    .string()
    .regex(/^[\w.:-]{1,64}$/)
    .optional(),
  /** TCP port (0: any free port). @default 8080 */
  port: port.default(8080),
  /** Address to bind. @default all interfaces */
  host: z.string().min(1).optional(),
  /** `https` terminates TLS with `tls`. @default 'https' with `tls`, else 'http' */
  protocol: z.enum(['http', 'https']).optional(),
  tls: tlsSchema.optional(),
  /**
   * HTTP/2: `true` on a TLS listener (ALPN `h2`, with HTTP/1.1 still
   * served to clients that do not offer it); `'h2c'` on a plain listener
   * (cleartext HTTP/2 with prior knowledge only: no HTTP/1.1 on it, and
   * browsers never use h2c). @default false
   */
  http2: z.union([z.boolean(), z.literal('h2c')]).optional(),
  /**
   * Server hardening, the settings of `serverOptions()`/`hardenServer()`
   * (docs/security.md): `headersTimeout` @default '10s', `requestTimeout`
   * @default '60s', `keepAliveTimeout` @default '5s',
   * `connectionsCheckingInterval` @default '1s', `maxHeaderSize` (bytes)
   * @default 16384, `maxConnections` @default 10000, `maxRequestsPerSocket`
   * @default 1000.
   */
  ...serverHardeningSchema.shape,
});

/** Resolved settings of one listener. */
export type ListenerSettings = z.output<typeof listenerSchema>;

/** The keys of a config file that belong to the CLI rather than to a pool. */
export const cliSchema = z.strictObject({
  /** Where the proxy listens: one or more HTTP/HTTPS listeners. @default [{ port: 8080 }] */
  listeners: z.array(listenerSchema).min(1).max(64).optional(),
  /** Short form of a single HTTP listener: `{ port, host }`. */
  listen: z.strictObject({ port: port.default(8080), host: z.string().min(1).optional() }).optional(),
  /** The admin API on a listener of its own, behind its bearer token. @default off */
  admin: z
    .strictObject({
      /** The bearer token (at least 16 visible characters). */
      token: z.string(),
      /** @default 9901 */
      port: port.default(9901),
      /** @default '127.0.0.1' */
      host: z.string().min(1).default('127.0.0.1'),
      /** Largest request body, in bytes. @default 1048576 */
      maxBodyBytes: positiveInt().optional(),
      /**
       * Serve the web dashboard at `/dashboard/` on the admin listener (docs/dashboard.md):
       * `true`, or `{ sessionIdleTimeout, sessionLifetime, secureCookie, assets }`.
       * @default false
       */
      dashboard: dashboardOptionsSchema.optional(),
    })
    .optional(),
  /** Prometheus metrics (every pool, labelled `pool`) on a listener of their own. @default off */
  metrics: z
    .strictObject({
      /** @default 9100 */
      port: port.default(9100),
      /** @default '127.0.0.1' */
      host: z.string().min(1).default('127.0.0.1'),
      /** @default '/metrics' */
      path: z
        .string()
        .regex(/^\/[\w./~-]*$/)
        .default('/metrics'),
      /** Require `Authorization: Bearer <token>`. @default none */
      token: z.string().min(16).optional(),
    })
    .optional(),
  /** Operational logs (JSON lines on stdout): `true` (from `info`), a level, `{ level }`, or `false`. @default 'info' */
  log: z
    .union([z.boolean(), logLevelSchema, z.strictObject({ level: logLevelSchema.default('info') })])
    .default('info'),
  /** One line per request: `true` (JSON on stdout) or the settings. @default false */
  accessLog: z
    .union([
      z.boolean(),
      z.strictObject({
        /** `json` or NGINX's `combined` (with `rt=`, `backend=`, `route=`, `id=` appended). @default 'json' */
        format: z.enum(['json', 'combined']).default('json'),
        /** `stdout`, `stderr`, or a file path. @default 'stdout' */
        to: z.string().min(1).default('stdout'),
        /** Rotation of a file (rotating-file-stream): size `10M`, interval `1d`, files kept. @default none */
        rotate: z
          .strictObject({
            size: z
              .string()
              .regex(/^\d+[BKMG]$/, { error: 'a size such as "10M"' })
              .optional(),
            interval: z
              .string()
              .regex(/^\d+[smhdM]$/, { error: 'an interval such as "1d" or "6h"' })
              .optional(),
            maxFiles: positiveInt().optional(),
            compress: z.boolean().default(false),
          })
          .optional(),
        /**
         * Query values to hide (`***`): `true` all, `false` none, or parameter
         * names. @default ['token', 'access_token', 'api_key', 'apikey', 'key', 'secret', 'password', 'signature', 'sig', 'code', 'auth']
         */
        redactQuery: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
      }),
    ])
    .default(false),
  /** Worker processes (node:cluster), each a full balancer: a number or `auto` (one per CPU). @default 1 */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
  /** Reload when the config file changes (SIGHUP always reloads). @default false */
  watch: z.boolean().default(false),
  /** On SIGTERM/SIGINT, longest wait for in-flight requests before connections are cut. @default '30s' */
  shutdownTimeout: duration().default(30_000),
});

/** The CLI's own settings, resolved (`listen` folded into `listeners`). */
export type CliSettings = Omit<z.output<typeof cliSchema>, 'listen' | 'listeners'> & {
  listeners: ListenerSettings[];
};

/** The keys of the file that are neither the CLI's nor a pool's. */
const ROUTING_KEYS = new Set(['routes', 'pools']);
const CLI_KEYS = new Set(Object.keys(cliSchema.shape));
/** Options only code can give: a file cannot hold a function or a live object. */
export const CODE_ONLY = new Set(['logger', 'middleware', 'now', 'random', 'onError']);
/** The pool of the short form (balancer options at the top of the file). */
export const DEFAULT_POOL = 'default';

/** Where a problem is in the file. */
export interface Location {
  readonly line: number;
  readonly col: number;
}

/** A config file, split into the CLI's settings, the pools and the routes. */
export interface ConfigFile {
  readonly cli: CliSettings;
  /** Balancer options by pool name (the short form has one pool, `default`). */
  readonly pools: Readonly<Record<string, LoadBalancerOptions>>;
  readonly routes: readonly RouteOptions[];
  /** True for the short form: pool option paths are at the top of the file. */
  readonly short: boolean;
  /** The option path of pool `name`'s option `path`, as written in the file. */
  poolPath(name: string, path: string): string;
  /** Where option `path` (`routes[0].pool`) is written, if it is. */
  locate(path: string): Location | undefined;
  /** The environment variable that set option `path`, if one did. */
  fromEnv(path: string): string | undefined;
}

/** A config file that could not be read: YAML syntax, an unset variable, or not a mapping. */
export class ConfigFileError extends Error {
  readonly location: Location | undefined;
  constructor(message: string, location?: Location) {
    super(message);
    this.name = 'ConfigFileError';
    this.location = location;
  }
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$/g;

/**
 * Replaces `${VAR}` (or `${VAR:-default}`) in every string value of a parsed
 * document; `$$` is a literal `$`. A value that is one variable alone
 * becomes a number or boolean when the variable's text is one. Done on values, not on the text, so a
 * secret holding YAML syntax cannot change the document's shape.
 *
 * @example
 * ```ts
 * import { interpolate } from './config-file.js';
 * interpolate({ url: '${UPSTREAM:-http://10.0.0.1}' }, process.env);
 * ```
 */
export function interpolate(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    // A value that is one variable alone takes the variable's type: `port: ${PORT}` is a number.
    const whole = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/.test(value);
    const replaced = value.replace(VARIABLE, (_match, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '$';
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(
        formatPath(path),
        value,
        `environment variable ${name} to be set and not empty (write \${${name}:-default} for a fallback)`,
      );
    });
    return whole ? envValue(replaced) : replaced;
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolate(item, env, [...path, key]);
    return out;
  }
  return value;
}

/**
 * Splits an option path into its parts.
 *
 * @example
 * ```ts
 * import { splitPath } from './config-file.js';
 * splitPath('pools.api.backends[0].url'); // ['pools', 'api', 'backends', 0, 'url']
 * ```
 */
export function splitPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) out.push(Number(match[2]));
    else out.push(match[1] as string);
  }
  return out;
}

/**
 * The environment overrides, applied over the file (command-line flags
 * apply over them). Returns the option path each variable set.
 */
export const ENV_OVERRIDES = {
  PORT: 'listeners[0].port',
  SWITCHYARD_PORT: 'listeners[0].port',
  SWITCHYARD_HOST: 'listeners[0].host',
  SWITCHYARD_WORKERS: 'workers',
  SWITCHYARD_LOG_LEVEL: 'log',
  SWITCHYARD_ACCESS_LOG: 'accessLog',
  SWITCHYARD_ADMIN_TOKEN: 'admin.token',
  SWITCHYARD_ADMIN_PORT: 'admin.port',
  SWITCHYARD_METRICS_PORT: 'metrics.port',
  SWITCHYARD_SHUTDOWN_TIMEOUT: 'shutdownTimeout',
} as const;

function envValue(text: string): unknown {
  if (/^\d+$/.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

function applyEnv(
  data: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Map<string, string> {
  const sources = new Map<string, string>();
  // PORT is the platform convention (Heroku, Cloud Run...); SWITCHYARD_PORT wins when both are set.
  for (const name of Object.keys(ENV_OVERRIDES) as (keyof typeof ENV_OVERRIDES)[]) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const path = ENV_OVERRIDES[name];
    let value = envValue(text);
    if (name === 'SWITCHYARD_ACCESS_LOG') {
      if (text === 'off' || text === 'false') value = false;
      else {
        const current = data.accessLog;
        value = { ...(current && typeof current === 'object' ? current : {}), to: text };
      }
    }
    if (path.startsWith('listeners[0].')) {
      if (data.listeners === undefined) {
        const listen = data.listen && typeof data.listen === 'object' ? data.listen : {};
        delete data.listen;
        data.listeners = [{ ...listen }];
      }
      const list = data.listeners;
      if (Array.isArray(list) && list[0] && typeof list[0] === 'object') {
        list[0] = { ...list[0], [path.slice('listeners[0].'.length)]: value };
      }
    } else if (path.includes('.')) {
      const [section, key] = path.split('.') as [string, string];
      const current = data[section];
      data[section] = { ...(current && typeof current === 'object' ? current : {}), [key]: value };
    } else data[path] = value;
    sources.set(path, name);
  }
  return sources;
}

function nodeAt(doc: ReturnType<typeof parseDocument>, path: (string | number)[]): Node | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const part of path) {
    keyNode = undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
      if (!pair) return (keyNode as Node | undefined) ?? (node as Node);
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part];
      if (item === undefined) return node as Node;
      node = item;
    } else return node as Node | undefined;
  }
  return ((node as Node | null) ?? (keyNode as Node | undefined)) || undefined;
}

/**
 * Parses the text of a YAML config file: syntax errors name the line and
 * column, `${VAR}` is taken from `env`, environment overrides
 * ({@link ENV_OVERRIDES}) apply, the CLI's keys are validated and split from
 * the pools and routes. Throws {@link ConfigFileError} or `ConfigError`
 * (naming the option path; {@link ConfigFile.locate} is then not available,
 * use {@link locateIn}).
 *
 * @example
 * ```ts
 * import { parseConfigFile } from './config-file.js';
 * const config = parseConfigFile('listeners: [{ port: 8080 }]\nbackends: [{ url: "http://10.0.0.1" }]', process.env);
 * ```
 */
export function parseConfigFile(text: string, env: Readonly<Record<string, string | undefined>>): ConfigFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const problem = doc.errors[0];
  if (problem) {
    const at = problem.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}: ` : '';
    // The message repeats the position and a snippet: keep only what went wrong.
    const what = problem.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError(`YAML syntax error at ${where}${what}`, at ? { line: at.line, col: at.col } : undefined);
  }
  const locate = (path: string): Location | undefined => {
    const node = nodeAt(doc, splitPath(path));
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { line: pos.line, col: pos.col };
  };
  let sources = new Map<string, string>();
  const fromEnv = (path: string) => {
    for (const [set, name] of sources) if (path === set || path.startsWith(`${set}.`)) return name;
    return undefined;
  };
  const located = (error: unknown): never => {
    if (error instanceof ConfigError)
      throw Object.assign(error, {
        location: fromEnv(error.path) ? undefined : locate(error.path),
        env: fromEnv(error.path),
      });
    throw error;
  };
  const data = (doc.toJS({ maxAliasCount: 100 }) as unknown) ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigFileError('the file must be a mapping of options (listeners, pools, routes, backends, ...)');
  }
  let resolved: Record<string, unknown>;
  try {
    resolved = interpolate(data, env) as Record<string, unknown>;
  } catch (error) {
    return located(error);
  }
  sources = applyEnv(resolved, env);
  const cliInput: Record<string, unknown> = {};
  const top: Record<string, unknown> = {};
  try {
    for (const [key, value] of Object.entries(resolved)) {
      if (CODE_ONLY.has(key)) throw new ConfigError(key, value, 'nothing: this option can only be given from code');
      if (CLI_KEYS.has(key)) cliInput[key] = value;
      else if (!ROUTING_KEYS.has(key)) top[key] = value;
    }
    const parsed = parseOptions(cliSchema, cliInput);
    if (parsed.listen && parsed.listeners) {
      throw new ConfigError('listen', cliInput.listen, 'listeners or listen, not both');
    }
    const { listen, listeners, ...rest } = parsed;
    const cli: CliSettings = {
      ...rest,
      listeners: listeners ?? [parseOptions(listenerSchema, listen ? { ...listen } : {}, 'listen')],
    };
    cli.listeners.forEach((l, i) => {
      if (l.protocol === 'https' && !l.tls)
        throw new ConfigError(`listeners[${i}].tls`, undefined, 'tls settings for an https listener');
      const secure = l.protocol === 'https' || (l.protocol === undefined && l.tls !== undefined);
      if (l.http2 === true && !secure)
        throw new ConfigError(`listeners[${i}].http2`, true, "'h2c' on a plain listener (true needs tls)");
      if (l.http2 === 'h2c' && secure)
        throw new ConfigError(`listeners[${i}].http2`, 'h2c', 'true on a TLS listener (h2c is cleartext)');
      if (l.protocol === 'http' && l.tls)
        throw new ConfigError(`listeners[${i}].protocol`, 'http', "'https' (or no protocol) with tls");
    });
    const hasPools = resolved.pools !== undefined;
    let pools: Record<string, LoadBalancerOptions>;
    if (hasPools) {
      const input = resolved.pools;
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        throw new ConfigError('pools', input, 'a mapping of pool names to balancer options');
      }
      const stray = Object.keys(top)[0];
      if (stray !== undefined) {
        throw new ConfigError(
          stray,
          top[stray],
          `no balancer option at the top level when pools is given (put it in pools.<name>.${stray})`,
        );
      }
      pools = {};
      for (const [name, options] of Object.entries(input)) {
        parseOptions(poolNameSchema, name, `pools.${name}`);
        for (const key of Object.keys(options ?? {})) {
          if (CODE_ONLY.has(key))
            throw new ConfigError(
              `pools.${name}.${key}`,
              undefined,
              'nothing: this option can only be given from code',
            );
        }
        pools[name] = (options ?? {}) as LoadBalancerOptions;
      }
      if (Object.keys(pools).length === 0) throw new ConfigError('pools', input, 'at least one pool');
    } else pools = { [DEFAULT_POOL]: top as LoadBalancerOptions };
    const names = Object.keys(pools);
    let routes: RouteOptions[];
    if (resolved.routes === undefined) {
      if (names.length > 1)
        throw new ConfigError('routes', undefined, 'routes sending requests to the pools (there is more than one)');
      routes = [{ pool: names[0] as string }];
    } else {
      parseOptions(routesSchema, resolved.routes, 'routes');
      routes = resolved.routes as RouteOptions[];
      (routes as { pool?: unknown }[]).forEach((route, i) => {
        if (!names.includes(route.pool as string)) {
          throw new ConfigError(`routes[${i}].pool`, route.pool, `the name of a pool (${names.join(', ')})`);
        }
      });
    }
    return {
      cli,
      pools,
      routes,
      short: !hasPools,
      poolPath: (name, path) => (hasPools ? `pools.${name}${path ? `.${path}` : ''}` : path),
      locate,
      fromEnv,
    };
  } catch (error) {
    return located(error);
  }
}

/**
 * Where a `ConfigError` thrown by {@link parseConfigFile} points: its line
 * and column in the file, or the environment variable that set it.
 *
 * @example
 * ```ts
 * import { errorLocation, parseConfigFile } from './config-file.js';
 * try { parseConfigFile(text, process.env); } catch (e) { console.log(errorLocation(e).location?.line); }
 * ```
 */
export function errorLocation(error: unknown): { location?: Location; env?: string } {
  const e = error as { location?: Location; env?: string };
  return { ...(e.location ? { location: e.location } : {}), ...(e.env ? { env: e.env } : {}) };
}

/**
 * The JSON Schema (draft 2020-12) of a whole config file: the CLI's keys
 * (listeners, admin, metrics, log, accessLog, workers...), `routes`, `pools`
 * (each the balancer's options) and, for the short form, the balancer's
 * options at the top level.
 *
 * @example
 * ```ts
 * import { optionsSchema } from 'switchyard-lb';
 * import { configFileJsonSchema } from './config-file.js';
 * writeFileSync('switchyard.schema.json', JSON.stringify(configFileJsonSchema(optionsSchema), null, 2));
 * ```
 */
export function configFileJsonSchema(poolSchema: z.ZodObject): Record<string, unknown> {
  const pool = poolSchema.omit(Object.fromEntries([...CODE_ONLY].map((k) => [k, true])) as never);
  const top = pool.omit(
    Object.fromEntries([...CLI_KEYS].filter((k) => k in pool.shape).map((k) => [k, true])) as never,
  );
  const whole = z.strictObject({
    ...top.shape,
    ...cliSchema.shape,
    routes: routesSchema.optional(),
    pools: z.record(poolNameSchema, pool).optional(),
  });
  const schema = z.toJSONSchema(whole, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'switchyard configuration file' };
}
