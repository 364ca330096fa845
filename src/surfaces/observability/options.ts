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

/** Resolved `requestId` setting. */
export type ResolvedRequestIdOptions = z.output<typeof requestIdSchema>;
/** Resolved `tracing` setting. */
export type ResolvedTracingOptions = z.output<typeof tracingSchema>;
