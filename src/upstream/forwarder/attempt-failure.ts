import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientParseError } from '../../core/net/client-error.js';
import { FIELD_VALUE } from '../../core/net/field-value.js';
import { clientGone } from '../../core/net/http2-compat.js';
import { UpstreamError } from '../../core/upstream-error.js';
import type { ResolvedTimeoutsOptions } from './options.js';

/** Error codes that mean no connection was made. */
export const CONNECT_ERRORS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/** What a forwarder knows about an attempt when it fails: the input of {@link attemptFailure}. */
export interface FailedAttempt {
  /** Id of the backend the attempt went to. */
  readonly backend: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request went out on a pooled socket that carried an earlier one. */
  readonly reused: boolean;
  /** The client's request body failed (aborted or malformed), if it did. */
  clientBodyError: Error | undefined;
  readonly cancelled: boolean;
  readonly timedOut: 'connect' | 'response' | 'deadline' | undefined;
  /** A connection was made for the request. */
  readonly connected: boolean;
}

/** How the forwarder's client reported the failure, beyond `error.code`. */
export interface FailureHints {
  /** The client waited in its pool's queue, with no socket assigned yet. */
  readonly queued?: boolean;
  /** The client says the backend's bytes were not valid HTTP. */
  readonly protocol?: boolean;
  /** The client's own connect timeout fired. */
  readonly connectTimeout?: boolean;
}

/**
 * Turns the failure of an upstream attempt into the {@link UpstreamError}
 * the pipeline sees, in the same order for every forwarder: a client body
 * that failed, a client that left, a cancelled hedge, the deadline, the
 * connect and response timeouts, a connection never made, a malformed
 * answer, and otherwise a reset. Records a client body error on `attempt`.
 *
 * @example
 * ```ts
 * import { attemptFailure } from './attempt-failure.js';
 * declare const [state, error, timeouts]: Parameters<typeof attemptFailure>;
 * const failure = attemptFailure(state, error, timeouts, { protocol: error.code?.startsWith('HPE_') });
 * ```
 */
export function attemptFailure(
  attempt: FailedAttempt,
  error: Error & { code?: string },
  timeouts: ResolvedTimeoutsOptions,
  hints: FailureHints = {},
): UpstreamError {
  const id = attempt.backend;
  const reused = attempt.reused;
  // However the failure reached us (the request's error, the response's close...).
  const bodyError = attempt.clientBodyError ?? clientParseError(attempt.req);
  if (bodyError !== undefined) {
    attempt.clientBodyError = bodyError;
    return (bodyError as { code?: string }).code?.startsWith('HPE_')
      ? new UpstreamError('ERR_BAD_REQUEST', 'the request body is malformed', id, 'reset', reused, bodyError)
      : new UpstreamError(
          'ERR_CLIENT_ABORTED',
          'client closed the connection while sending its request body',
          id,
          'reset',
          reused,
          bodyError,
        );
  }
  // A closed socket (HTTP/1.1) or a reset stream (HTTP/2, whose compatibility
  // response reports `writableFinished` for a reset stream too).
  return upstreamFailure({ ...attempt, clientGone: clientGone(attempt.res) }, error, timeouts, hints);
}

/**
 * What is known of an upstream exchange when it fails, whatever it carried (a
 * request, or an upgrade handshake): the input of {@link upstreamFailure}.
 */
export interface UpstreamAttemptFacts {
  /** Id of the backend the attempt went to. */
  readonly backend: string;
  /** The exchange went out on a pooled socket that carried an earlier one. */
  readonly reused: boolean;
  /** The client went away before the answer. */
  readonly clientGone: boolean;
  readonly cancelled: boolean;
  readonly timedOut: 'connect' | 'response' | 'deadline' | undefined;
  /** A connection (TLS included, for an `https:` backend) was made for the exchange. */
  readonly connected: boolean;
}

/**
 * The part of {@link attemptFailure} past the client's request body, shared
 * with the upgrade tunnels: a client that left, a cancelled hedge, the
 * deadline, the connect and response timeouts, a connection never made, a
 * malformed answer, and otherwise a reset.
 *
 * @example
 * ```ts
 * import { upstreamFailure } from './attempt-failure.js';
 * declare const [facts, error, timeouts]: Parameters<typeof upstreamFailure>;
 * upstreamFailure(facts, error, timeouts, { protocol: true }).code; // 'ERR_UPSTREAM_PROTOCOL' (connected, no timeout)
 * ```
 */
export function upstreamFailure(
  attempt: UpstreamAttemptFacts,
  error: Error & { code?: string },
  timeouts: Pick<ResolvedTimeoutsOptions, 'connect' | 'response' | 'total'>,
  hints: FailureHints = {},
): UpstreamError {
  const id = attempt.backend;
  const reused = attempt.reused;
  const code = error.code;
  if (attempt.clientGone) {
    return new UpstreamError('ERR_CLIENT_ABORTED', 'client closed the connection', id, 'reset', reused, error);
  }
  if (attempt.cancelled) {
    return new UpstreamError('ERR_CANCELLED', `attempt to backend ${id} cancelled`, id, 'reset', reused, error);
  }
  if (attempt.timedOut === 'deadline') {
    return new UpstreamError(
      'ERR_DEADLINE',
      `no response within the request deadline (timeouts.total ${timeouts.total} ms)`,
      id,
      'timeout',
      reused,
      error,
    );
  }
  if (attempt.timedOut === 'connect' || hints.connectTimeout) {
    return new UpstreamError(
      'ERR_UPSTREAM_CONNECT_TIMEOUT',
      hints.queued
        ? `no free connection to backend ${id} within ${timeouts.connect} ms`
        : `no connection to backend ${id} within ${timeouts.connect} ms`,
      id,
      'connect-failure',
      hints.queued ? false : reused,
      error,
    );
  }
  if (attempt.timedOut === 'response') {
    return new UpstreamError(
      'ERR_UPSTREAM_TIMEOUT',
      `backend ${id} sent no response within ${timeouts.response} ms`,
      id,
      'timeout',
      reused,
      error,
    );
  }
  if ((code !== undefined && CONNECT_ERRORS.has(code)) || !attempt.connected) {
    return new UpstreamError(
      'ERR_UPSTREAM_CONNECT',
      `cannot connect to backend ${id}`,
      id,
      'connect-failure',
      reused,
      error,
    );
  }
  if (hints.protocol || code?.startsWith('HPE_')) {
    return new UpstreamError(
      'ERR_UPSTREAM_PROTOCOL',
      `backend ${id} sent a malformed response`,
      id,
      'reset',
      reused,
      error,
    );
  }
  return new UpstreamError(
    'ERR_UPSTREAM_RESET',
    `backend ${id} closed the connection before responding`,
    id,
    'reset',
    reused,
    error,
  );
}

/**
 * `ERR_UPSTREAM_PROTOCOL` when a backend's final response cannot be relayed
 * as it came: a status outside 200-599 (RFC 9110 §15: 100-599, and the
 * interim 1xx never reach here) or a reason phrase with a control character.
 * Node would refuse to write either, and the client would get a closed
 * connection instead of a 502; this way the attempt fails where the fault
 * is, is charged to the backend and may be retried. `undefined` when the
 * response can be relayed.
 *
 * @example
 * ```ts
 * import { unrelayableResponse } from './attempt-failure.js';
 * unrelayableResponse('a', 200, 'OK'); // undefined
 * unrelayableResponse('a', 99, 'Odd')?.code; // 'ERR_UPSTREAM_PROTOCOL'
 * ```
 */
export function unrelayableResponse(
  backend: string,
  status: number,
  reason: string | undefined,
): UpstreamError | undefined {
  let what: string | undefined;
  if (!(status >= 200 && status <= 599)) what = `status ${status}`;
  else if (reason !== undefined && reason !== 'OK' && !FIELD_VALUE.test(reason))
    what = 'a control character in its reason phrase';
  if (what === undefined) return undefined;
  return new UpstreamError(
    'ERR_UPSTREAM_PROTOCOL',
    `backend ${backend} answered with ${what}`,
    backend,
    'reset',
    false,
  );
}
