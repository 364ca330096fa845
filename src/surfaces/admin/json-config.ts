const SECRET_KEY = /secret|password|token|authorization/i;
const REDACTED = '[redacted]';

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeObject(value: object): string {
  const kind = (value as { constructor?: { name?: string } }).constructor?.name || 'object';
  const name = (value as { name?: unknown }).name;
  return typeof name === 'string' ? `[${kind} ${name}]` : `[${kind}]`;
}

function maskUrl(value: string): string {
  if (!URL.canParse(value)) return value;
  const url = new URL(value);
  if (!url.username && !url.password) return value;
  url.username = url.username ? '***' : '';
  url.password = url.password ? '***' : '';
  return url.href;
}

/**
 * A JSON-safe copy of a resolved configuration, for `GET /config`:
 * functions become `"[function name]"`, RegExps their source, other objects
 * that are not plain data (clients, limiters, strategies) `"[Class name]"`,
 * `Infinity` `null`; secrets (`sticky.secret`, anything named like a
 * password or token, `healthCheck.headers` values, a backend's `tls.key` and `tls.passphrase`) are `"[redacted]"`, and
 * credentials in URLs `***`.
 *
 * @example
 * ```ts
 * import { jsonSafeConfig } from './json-config.js';
 * res.end(JSON.stringify(jsonSafeConfig(lb.config)));
 * ```
 */
export function jsonSafeConfig(config: object): Record<string, unknown> {
  return walk(config, '', new WeakSet()) as Record<string, unknown>;
}

function walk(value: unknown, key: string, seen: WeakSet<object>): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return SECRET_KEY.test(key) ? REDACTED : maskUrl(value);
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value !== 'object') return undefined;
  if (SECRET_KEY.test(key)) return REDACTED;
  if (value instanceof RegExp) return String(value);
  if (seen.has(value)) return '[circular]';
  if (!Array.isArray(value) && !isPlain(value)) return describeObject(value);
  // `seen` holds the ancestors only: the same object met twice side by side is no cycle.
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value)) out = value.map((item) => walk(item, key, seen) ?? null);
  else {
    const copy: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) {
      // Header values may carry credentials of their own (a check's Authorization, an API key).
      const safe =
        key === 'headers' || (key === 'tls' && (name === 'key' || name === 'passphrase'))
          ? REDACTED
          : walk(item, name, seen);
      if (safe !== undefined) copy[name] = safe;
    }
    out = copy;
  }
  seen.delete(value);
  return out;
}
