import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { formatPath, parseOptions, positiveInt } from '../core/zod.js';
import type { LoadBalancerOptions } from '../options/options.js';
import { logLevelSchema } from '../surfaces/observability/options.js';

const urlPath = z
  .string()
  .regex(/^\/[\w./~-]*$/, { error: 'a path starting with "/"' })
  .transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));

/** The keys of a config file that belong to the CLI rather than to `createLoadBalancer`. */
const cliSchema = z.strictObject({
  /** Where the proxy listens. `port` @default 8080; `host` @default all interfaces. */
  listen: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8080),
      host: z.string().min(1).optional(),
    })
    .default({ port: 8080 }),
  /** The admin API (`lb.admin()`), served under `path` on the same server. @default off */
  admin: z
    .strictObject({
      token: z.string(),
      path: urlPath.default('/_switchyard'),
      maxBodyBytes: positiveInt().optional(),
    })
    .optional(),
  /** Path serving `lb.metricsHandler` (Prometheus text, `?format=json`). @default off */
  metricsPath: z.union([z.literal(false), urlPath]).default(false),
  /** JSON lines on stdout as the balancer's `logger`: `true` (from `info`), a minimum level, or `false`. @default false */
  log: z.union([z.boolean(), logLevelSchema]).default(false),
});

const CLI_KEYS = new Set(Object.keys(cliSchema.shape));
/** Options only code can give: a file cannot hold a function or a live object. */
const CODE_ONLY = new Set(['logger', 'middleware', 'now', 'random', 'onError']);

/** The CLI's own settings, resolved. */
export type CliSettings = z.output<typeof cliSchema>;

/** A config file, split into the CLI's settings and the balancer's options. */
export interface ConfigFile {
  readonly cli: CliSettings;
  readonly options: LoadBalancerOptions;
}

/** A config file that could not be read: YAML syntax, an unset variable, or not a mapping. */
export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$/g;

/**
 * Replaces `${VAR}` (or `${VAR:-default}`) in every string value of a parsed
 * document; `$$` is a literal `$`. Done on values, not on the text, so a
 * secret holding YAML syntax cannot change the document's shape.
 */
export function interpolate(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (_match, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '$';
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigFileError(
        `${formatPath(path) || '(root)'}: environment variable ${name} is not set or empty (write \${${name}:-default} for a fallback)`,
      );
    });
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
 * Parses the text of a YAML config file: syntax errors name the line and
 * column, `${VAR}` is taken from `env`, the CLI's keys (`listen`, `admin`,
 * `metricsPath`, `log`) are validated and split from the balancer's options.
 * Throws {@link ConfigFileError} or `ConfigError` (naming the option path).
 *
 * @example
 * ```ts
 * const { cli, options } = parseConfigFile('listen: { port: 8080 }\nbackends: [{ url: "http://10.0.0.1" }]', process.env);
 * ```
 */
export function parseConfigFile(text: string, env: Readonly<Record<string, string | undefined>>): ConfigFile {
  const doc = parseDocument(text);
  const problem = doc.errors[0];
  if (problem) {
    const at = problem.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}: ` : '';
    // The message repeats the position and a snippet: keep only what went wrong.
    const what = problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError(`YAML syntax error at ${where}${what}`);
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (data === null || data === undefined) return { cli: parseOptions(cliSchema, {}), options: {} };
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigFileError('the file must be a mapping of options (listen, backends, ...)');
  }
  const resolved = interpolate(data, env) as Record<string, unknown>;
  const cli: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resolved)) {
    if (CODE_ONLY.has(key)) throw new ConfigError(key, value, 'nothing: this option can only be given from code');
    if (CLI_KEYS.has(key)) cli[key] = value;
    else options[key] = value;
  }
  return { cli: parseOptions(cliSchema, cli), options: options as LoadBalancerOptions };
}
