import path from 'node:path';
import process from 'node:process';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { RouterEvents } from '../router.js';
import type { CliSettings } from './config-file.js';

/** Query parameters whose values the access log hides unless told otherwise. */
export const SENSITIVE_QUERY = [
  'token',
  'access_token',
  'api_key',
  'apikey',
  'key',
  'secret',
  'password',
  'signature',
  'sig',
  'code',
  'auth',
];

/** One request, as the access log gets it. */
export type AccessEntry = RouterEvents['request'];

/** Where access log lines go. */
export interface AccessLog {
  write(entry: AccessEntry): void;
  close(): Promise<void>;
}

/**
 * The target with the values of the named query parameters replaced by
 * `***` (`true`: all of them), names compared case-insensitively.
 *
 * @example
 * ```ts
 * import { redactQuery } from './access-log.js';
 * redactQuery('/a?token=s3cret&page=2', ['token']); // '/a?token=***&page=2'
 * ```
 */
export function redactQuery(target: string, names: readonly string[] | boolean): string {
  const q = target.indexOf('?');
  if (q === -1 || names === false) return target;
  const all = names === true;
  const set = all ? undefined : new Set(names.map((n) => n.toLowerCase()));
  const parts = target
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return part;
      let name = part.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // An undecodable name is compared as sent.
      }
      return all || set?.has(name.toLowerCase()) ? `${part.slice(0, eq)}=***` : part;
    });
  return `${target.slice(0, q)}?${parts.join('&')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function clf(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

function quoted(value: string | undefined): string {
  if (value === undefined || value === '') return '"-"';
  let out = '"';
  for (const c of value) {
    const code = c.charCodeAt(0);
    // Control bytes (a forged log line) are escaped like NGINX does: \xHH.
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (c === '"' || c === '\\') out += `\\${c}`;
    else out += c;
  }
  return `${out}"`;
}

/**
 * Formats one entry: a JSON object, or NGINX's combined format with
 * `rt=` (seconds), `backend=`, `pool=`, `route=` and `id=` appended.
 *
 * @example
 * ```ts
 * import { SENSITIVE_QUERY, formatAccess } from './access-log.js';
 * declare const entry: Parameters<typeof formatAccess>[0];
 * formatAccess(entry, 'combined', SENSITIVE_QUERY, new Date());
 * ```
 */
export function formatAccess(
  entry: AccessEntry,
  format: 'json' | 'combined',
  redact: readonly string[] | boolean,
  now: Date,
): string {
  const target = redactQuery(entry.target, redact);
  if (format === 'json') {
    return `${JSON.stringify({
      time: now.toISOString(),
      client: entry.clientAddress,
      method: entry.method,
      target,
      status: entry.status,
      bytesIn: entry.bytesIn,
      bytesOut: entry.bytesOut,
      durationMs: Math.round(entry.durationMs * 1000) / 1000,
      backend: entry.backend ?? null,
      pool: entry.pool ?? null,
      route: entry.route ?? null,
      host: entry.host ?? null,
      userAgent: entry.userAgent ?? null,
      requestId: entry.requestId ?? null,
      ...(entry.error ? { error: entry.error } : {}),
    })}\n`;
  }
  const request = `${entry.method} ${target} HTTP/${entry.httpVersion}`;
  return (
    `${entry.clientAddress || '-'} - - [${clf(now)}] ${quoted(request)} ${entry.status} ${entry.bytesOut} ` +
    `${quoted(entry.referer)} ${quoted(entry.userAgent)} rt=${(entry.durationMs / 1000).toFixed(3)} ` +
    `backend=${quoted(entry.backend)} pool=${quoted(entry.pool)} route=${quoted(entry.route)} id=${quoted(entry.requestId)}\n`
  );
}

/**
 * The access log of the CLI's `accessLog` setting: lines to stdout/stderr,
 * or to a file rotated by size and/or time through rotating-file-stream.
 * With several workers each writes its own file (`access.log` becomes
 * `access.2.log` for worker 2), since a file cannot be rotated by several
 * processes at once. `undefined` when the log is off.
 *
 * @example
 * ```ts
 * import { createAccessLog } from './access-log.js';
 * const log = createAccessLog({ format: 'json', to: 'stdout' }, undefined);
 * router.on('request', (e) => log?.write(e));
 * ```
 */
export function createAccessLog(
  settings: CliSettings['accessLog'],
  worker: number | undefined,
  stdout: { write(text: string): unknown } = process.stdout,
  stderr: { write(text: string): unknown } = process.stderr,
): AccessLog | undefined {
  if (settings === false) return undefined;
  const options = settings === true ? { format: 'json' as const, to: 'stdout' } : settings;
  const redact = options.redactQuery ?? SENSITIVE_QUERY;
  const format = options.format;
  let stream: RotatingFileStream | undefined;
  let out: { write(text: string): unknown };
  if (options.to === 'stdout') out = stdout;
  else if (options.to === 'stderr') out = stderr;
  else {
    let file = path.resolve(options.to);
    if (worker !== undefined) {
      const ext = path.extname(file);
      file = `${file.slice(0, file.length - ext.length)}.${worker}${ext}`;
    }
    const rotate = 'rotate' in options ? options.rotate : undefined;
    stream = createStream(path.basename(file), {
      path: path.dirname(file),
      ...(rotate?.size ? { size: rotate.size as `${number}M` } : {}),
      ...(rotate?.interval ? { interval: rotate.interval as `${number}d` } : {}),
      ...(rotate?.maxFiles ? { maxFiles: rotate.maxFiles } : {}),
      ...(rotate?.compress ? { compress: 'gzip' } : {}),
    });
    // A full disk must not take the proxy down: report it and keep serving.
    stream.on('error', (error) => stderr.write(`switchyard: access log ${file}: ${error.message}\n`));
    out = stream;
  }
  return {
    write(entry) {
      out.write(formatAccess(entry, format, redact, new Date()));
    },
    close() {
      const s = stream;
      if (!s) return Promise.resolve();
      return new Promise<void>((resolve) => {
        s.end(() => resolve());
      });
    },
  };
}
