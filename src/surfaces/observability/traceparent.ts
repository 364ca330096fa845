import { randomTraceparent } from './random-hex.js';

/** The fields of a W3C `traceparent` header. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** The sender's span id: 16 lowercase hex digits, not all zero. */
  parentId: string;
  /** Trace flags, 2 hex digits (`01` = sampled). */
  flags: string;
}

/** The trace context the balancer sends upstream for one request. */
export interface ProxyTrace {
  traceId: string;
  /** The proxy hop's own span id, the backend's parent. */
  spanId: string;
  /** The `traceparent` header value to send. */
  header: string;
  /** True when the client's trace was continued, false when a new one started. */
  continued: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a `traceparent` header strictly (W3C Trace Context §3.2): lowercase
 * hex only, version `ff` refused, version `00` exactly 55 characters, a later
 * version at least 55 with a `-` after the known fields, trace and parent ids
 * not all zero. Anything else (a repeated header, upper case, wrong lengths)
 * is `undefined`: treated as absent.
 *
 * @example
 * ```ts
 * import { parseTraceparent } from 'switchyard-lb';
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')?.traceId;
 * ```
 */
export function parseTraceparent(value: string | string[] | undefined): TraceParent | undefined {
  if (typeof value !== 'string' || value.length < 55 || value.length > 512) return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, version, traceId, parentId, flags] = match as unknown as [string, string, string, string, string];
  if (version === 'ff' || (version === '00' && value.length !== 55)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags };
}

/**
 * The trace context for the proxy hop: the client's trace continued with a
 * new span id when its `traceparent` is valid (flags kept, version sent as
 * `00`), else a new trace (random 16-byte trace id, 8-byte span id, sampled).
 *
 * @example
 * ```ts
 * import { proxyTrace } from './traceparent.js';
 * declare const upstreamHeaders: Record<string, string>;
 * const trace = proxyTrace(req.headers.traceparent);
 * upstreamHeaders.traceparent = trace.header;
 * ```
 */
export function proxyTrace(incoming: string | string[] | undefined): ProxyTrace {
  const parent = parseTraceparent(incoming);
  // The header is spelled out once; the ids are slices of it.
  const header = randomTraceparent(parent?.traceId, parent?.flags ?? '01');
  return { traceId: header.slice(3, 35), spanId: header.slice(36, 52), header, continued: parent !== undefined };
}
