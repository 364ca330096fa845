/**
 * Every error switchyard raises is a {@link SwitchyardError} with a stable
 * `code`. Match on `code`, not on the message or the class.
 *
 * @example
 * ```ts
 * let timeouts = 0;
 * lb.on('request', ({ error }) => {
 *   if (error === 'ERR_UPSTREAM_TIMEOUT') timeouts++;
 * });
 * ```
 */
export class SwitchyardError extends Error {
  /** Stable machine-readable code, listed in `docs/errors.md`. */
  readonly code: ErrorCode;
  /** HTTP status this error maps to when it ends a request, if any. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.status = options?.status ?? ERROR_STATUS[code];
  }

  /** The JSON body sent to a client when this error ends its request. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }

  /**
   * The body a client gets for this error: its code and a generic message.
   * Messages that may name a backend, an address or an internal cause
   * (upstream failures, a failed middleware) are replaced by a fixed
   * sentence; the full {@link message}, the backend and the cause go to
   * events and logs only.
   *
   * @example
   * ```ts
   * declare const error: import('./errors.js').SwitchyardError;
   * res.end(JSON.stringify(error.toClientJSON())); // {"error":{"code":"ERR_UPSTREAM_CONNECT","message":"the backend could not be reached"}}
   * ```
   */
  toClientJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: CLIENT_MESSAGES[this.code] ?? this.message } };
  }
}

/** Fixed client-facing sentences for the codes whose messages carry internal detail. */
const CLIENT_MESSAGES: Partial<Record<ErrorCode, string>> = {
  ERR_UPSTREAM_CONNECT: 'the backend could not be reached',
  ERR_UPSTREAM_CONNECT_TIMEOUT: 'no connection to a backend could be made in time',
  ERR_UPSTREAM_RESET: 'the backend closed the connection before responding',
  ERR_UPSTREAM_TIMEOUT: 'the backend did not respond in time',
  ERR_UPSTREAM_PROTOCOL: 'the backend sent a malformed response',
  ERR_UPSTREAM_ABORTED: 'the backend response was cut off',
  ERR_BREAKER_OPEN: 'the backend is temporarily unavailable',
  ERR_DEADLINE: 'no response within the request deadline',
  ERR_MIDDLEWARE: 'the request could not be processed',
  ERR_INTERNAL: 'the request could not be processed',
};

/**
 * Every error code, with the HTTP status it maps to (`undefined` when the
 * error never ends a request). `docs/errors.md` lists the same codes; a test
 * keeps the two in step.
 */
export const ERROR_STATUS = {
  ERR_CONFIG: undefined,
  ERR_BAD_REQUEST: 400,
  ERR_BODY_CONSUMED: 500,
  ERR_NO_BACKEND: 503,
  ERR_BACKEND_NOT_FOUND: undefined,
  ERR_DUPLICATE_BACKEND: undefined,
  ERR_CLOSED: 503,
  ERR_UPSTREAM_CONNECT: 502,
  ERR_UPSTREAM_CONNECT_TIMEOUT: 504,
  ERR_UPSTREAM_RESET: 502,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_UPSTREAM_PROTOCOL: 502,
  ERR_UPSTREAM_ABORTED: 502,
  ERR_BREAKER_OPEN: 503,
  ERR_CLIENT_ABORTED: 499,
  ERR_DEADLINE: 504,
  ERR_QUEUE_FULL: 503,
  ERR_QUEUE_TIMEOUT: 503,
  ERR_CANCELLED: undefined,
  ERR_DRAIN_TIMEOUT: undefined,
  ERR_MIDDLEWARE: 500,
  ERR_NEXT_CALLED_TWICE: 500,
  ERR_INTERNAL: 500,
  // rate limiting
  ERR_RATE_LIMITED: 429,
  ERR_FORBIDDEN: 403,
  ERR_RATE_LIMIT_UNAVAILABLE: 503,
  // rollouts and the admin API
  ERR_ROLLOUT_IN_PROGRESS: 409,
  ERR_NO_ROLLOUT: 409,
  ERR_UNAUTHORIZED: 401,
  ERR_CSRF: 403,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_NOT_IMPLEMENTED: 501,
  // routing
  ERR_NO_ROUTE: 404,
  ERR_POOL_NOT_FOUND: undefined,
  ERR_DUPLICATE_POOL: undefined,
} as const satisfies Record<string, number | undefined>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * Thrown when `createLoadBalancer` (or a run-time update) gets a bad option.
 * `path` names the option, e.g. `backends[1].weight`.
 *
 * @example
 * ```ts
 * import { ConfigError, createLoadBalancer } from 'switchyard-lb';
 * try { createLoadBalancer({ backends: [{ url: 'nope' }] }); }
 * catch (e) { if (e instanceof ConfigError) console.error(e.path, e.message); }
 * ```
 */
export class ConfigError extends SwitchyardError {
  /** Dotted option path, e.g. `healthCheck.interval` or `backends[0].url`. */
  readonly path: string;
  /** The offending value, as given. */
  readonly value: unknown;
  /** What was expected instead, e.g. `a positive number`. */
  readonly expected: string;

  constructor(path: string, value: unknown, expected: string) {
    // An option that was not given is "missing", never "got undefined".
    const got = value === undefined ? 'missing' : `got ${describe(value)}`;
    super('ERR_CONFIG', `Invalid option ${path || '(root)'}: ${got}, expected ${expected}`);
    this.name = 'ConfigError';
    this.path = path;
    this.value = value;
    this.expected = expected;
  }
}

/** Makes an error of `code`; the one place codes turn into instances. */
export function makeError(code: ErrorCode, message: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError(code, message, cause === undefined ? undefined : { cause });
}

/** Short, safe rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return String(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
