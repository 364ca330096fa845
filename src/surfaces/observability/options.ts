import { z } from 'zod';
import type { Logger } from './logger.js';

const LOG_METHODS = ['debug', 'info', 'warn', 'error'] as const;

function isLogger(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    LOG_METHODS.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
  );
}

/** Header names that already mean something to HTTP or to the balancer. */
const TAKEN = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'traceparent',
  'tracestate',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'via',
]);

/** A pino-compatible logger: an object with `debug`, `info`, `warn`, `error` methods taking `(obj, msg)`. */
export const loggerSchema = z.custom<Logger>(isLogger, {
  error: 'a logger with debug/info/warn/error methods taking (obj, msg), e.g. a pino instance',
  abort: false,
});

/** Level of the per-request log line of a request that went well. */
export const logLevelSchema = z.enum(LOG_METHODS);

const requestIdObject = z.strictObject({
  /** Header carrying the id, both ways. Case-insensitive. @default 'x-request-id' */
  header: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'an HTTP header name' })
    .transform((name) => name.toLowerCase())
    .refine((name) => !TAKEN.has(name), { error: 'a header HTTP or the balancer does not already use' })
    .default('x-request-id'),
});

/**
 * Request ids: kept from the client when well formed (else a new UUID), sent
 * upstream and returned to the client in `header`; or `false`.
 */
export const requestIdSchema = z
  .union([z.literal(false), requestIdObject], { error: 'false or { header }' })
  .default(() => requestIdObject.parse({}));

const tracingObject = z.strictObject({
  /**
   * Send W3C `traceparent` upstream: the client's trace continued with a new
   * span id for the proxy hop, or a new trace. @default true
   */
  propagate: z.boolean().default(true),
});

/** W3C Trace Context propagation, or `false`. */
export const tracingSchema = z
  .union([z.literal(false), tracingObject], { error: 'false or { propagate }' })
  .default(() => tracingObject.parse({}));

/**
 * The `requestId` option, as you pass it (or `false`).
 * `test/option-types.test.ts` keeps this interface and `requestIdSchema` in step.
 *
 * @example
 * ```ts
 * import { type RequestIdOptions } from 'switchyard-lb';
 * const requestId: RequestIdOptions = { header: 'x-correlation-id' };
 * ```
 */
export interface RequestIdOptions {
  /** Header carrying the id, both ways; case-insensitive, one HTTP and the balancer do not already use. @default 'x-request-id' */
  header?: string | undefined;
}

/** {@link RequestIdOptions} after validation and defaults, or `false`. */
export type ResolvedRequestIdOptions =
  | false
  | { /** Lower-case header name. @default 'x-request-id' */ header: string };

/**
 * The `tracing` option, as you pass it (or `false`).
 * `test/option-types.test.ts` keeps this interface and `tracingSchema` in step.
 *
 * @example
 * ```ts
 * import { type TracingOptions } from 'switchyard-lb';
 * const tracing: TracingOptions = { propagate: false };
 * ```
 */
export interface TracingOptions {
  /** Send W3C `traceparent` upstream: the client's trace continued with a new span id, or a new trace. @default true */
  propagate?: boolean | undefined;
}

/** {@link TracingOptions} after validation and defaults, or `false`. */
export type ResolvedTracingOptions =
  | false
  | { /** Whether `traceparent` goes upstream. @default true */ propagate: boolean };
