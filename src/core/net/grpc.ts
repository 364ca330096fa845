/**
 * gRPC over HTTP/2, as far as a pass-through proxy reads it: the deadline a
 * call carries (`grpc-timeout`), the status of a trailers-only answer or of
 * the trailers that end a call, and how
 * a proxy error is told to a gRPC client (a trailers-only answer with
 * `grpc-status`, never an HTTP error page it cannot read).
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { PendingResponse } from '../context.js';

/** Milliseconds per `grpc-timeout` unit (gRPC over HTTP/2 spec: Hours, Minutes, Seconds, milli, micro, nano). */
const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * The deadline of a gRPC call, in ms, from its `grpc-timeout` header
 * (`TimeoutValue TimeoutUnit`, at most 8 digits); undefined when absent or
 * malformed.
 *
 * @example
 * ```ts
 * import { parseGrpcTimeout } from './grpc.js';
 * parseGrpcTimeout('250m'); // 250
 * parseGrpcTimeout('5S');   // 5000
 * ```
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/**
 * `grpc-timeout` for `ms` milliseconds left (rounded up, at least 1 ms), to
 * pass the remaining deadline upstream.
 *
 * @example
 * ```ts
 * import { formatGrpcTimeout } from './grpc.js';
 * formatGrpcTimeout(1234.5); // '1235m'
 * ```
 */
export function formatGrpcTimeout(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}m`;
}

/** True when a request or response is gRPC (`content-type: application/grpc[+proto|;...]`). */
export function isGrpc(headers: IncomingHttpHeaders | OutgoingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && /^application\/grpc(?:[+;]|$)/i.test(type);
}

/**
 * The HTTP status a gRPC status stands for when the balancer judges an
 * answer (breaker `failureStatuses`, outlier detection, retry `statuses`),
 * after the mapping of grpc-gateway and Envoy's gRPC-JSON transcoder:
 * `UNAVAILABLE` → 503, `DEADLINE_EXCEEDED` → 504, `RESOURCE_EXHAUSTED` → 429,
 * `INTERNAL`/`UNKNOWN`/`DATA_LOSS` → 500, `UNIMPLEMENTED` → 501, the caller's
 * errors → 4xx, `OK` → 200.
 *
 * @example
 * ```ts
 * import { grpcToHttpStatus } from './grpc.js';
 * grpcToHttpStatus(14); // 503
 * ```
 */
export function grpcToHttpStatus(code: number): number {
  switch (code) {
    case 0:
      return 200;
    case 1:
      return 499;
    case 3:
    case 9:
    case 11:
      return 400;
    case 4:
      return 504;
    case 5:
      return 404;
    case 6:
    case 10:
      return 409;
    case 7:
      return 403;
    case 8:
      return 429;
    case 12:
      return 501;
    case 14:
      return 503;
    case 16:
      return 401;
    default:
      return 500;
  }
}

/**
 * The gRPC status a proxy error maps to (gRPC's HTTP-to-status table, with
 * deadlines as `DEADLINE_EXCEEDED`): 504/`ERR_DEADLINE` → 4, 429 → 8 (the
 * balancer's own rate limit), 401 → 16, 403 → 7, 404 → 12, 502/503 → 14,
 * other 4xx → 13 (`INTERNAL`), anything else → 14 (`UNAVAILABLE`).
 *
 * @example
 * ```ts
 * import { httpToGrpcStatus } from './grpc.js';
 * httpToGrpcStatus(503); // 14
 * ```
 */
export function httpToGrpcStatus(status: number): number {
  if (status === 504) return 4;
  if (status === 429) return 8;
  if (status === 401) return 16;
  if (status === 403) return 7;
  if (status === 404) return 12;
  if (status >= 400 && status < 500) return 13;
  return 14;
}

/**
 * The gRPC status of a trailers-only answer (a HEADERS frame that ends the
 * stream and carries `grpc-status`), or undefined.
 *
 * @example
 * ```ts
 * import { trailersOnlyStatus } from './grpc.js';
 * trailersOnlyStatus({ ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '14' }); // 14
 * ```
 */
export function trailersOnlyStatus(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['grpc-status'];
  if (typeof value !== 'string' || !/^\d{1,2}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Judges a gRPC answer by the `grpc-status` its trailers carry, when they
 * arrive after the messages (a streaming call that fails midway): sets
 * {@link PendingResponse.grpcStatus} and {@link PendingResponse.judgedStatus}
 * (the HTTP equivalent, see {@link grpcToHttpStatus}) for a status other than
 * `OK`, so whoever judges the exchange when its body is over (breaker,
 * outlier detection, the strategy) reads the call's real outcome. The
 * forwarders call it once the trailers are in and before the body's end is
 * emitted. Returns the judged status, or undefined when the answer is not
 * gRPC, already judged (trailers-only), or `OK`.
 *
 * `trailers` is the trailer object of `node:http2`, or the `[name, value, ...]`
 * list of `rawTrailers` (HTTP/1.1 chunked trailers).
 *
 * @example
 * ```ts
 * import { judgeGrpcTrailers } from './grpc.js';
 * const response = { status: 200, headers: { 'content-type': 'application/grpc' }, body: undefined };
 * judgeGrpcTrailers(response, { 'grpc-status': '14' }); // 503; response.grpcStatus === 14
 * ```
 */
export function judgeGrpcTrailers(
  response: PendingResponse,
  trailers: IncomingHttpHeaders | readonly string[],
): number | undefined {
  if (response.judgedStatus !== undefined || !isGrpc(response.headers)) return undefined;
  let value: string | string[] | undefined;
  if (Array.isArray(trailers)) {
    const raw = trailers as readonly string[];
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() === 'grpc-status') value = raw[i + 1];
    }
  } else value = (trailers as IncomingHttpHeaders)['grpc-status'];
  const code = trailersOnlyStatus({ 'grpc-status': value });
  if (code === undefined || code === 0) return undefined;
  const judged = grpcToHttpStatus(code);
  response.grpcStatus = code;
  response.judgedStatus = judged;
  return judged;
}

/**
 * Percent-encodes a `grpc-message` (gRPC over HTTP/2 spec: printable ASCII
 * except `%` as is, the rest as UTF-8 `%XX`).
 *
 * @example
 * ```ts
 * import { grpcMessage } from './grpc.js';
 * grpcMessage('no backend: 100%'); // 'no backend: 100%25'
 * ```
 */
export function grpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
