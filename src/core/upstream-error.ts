import { type ErrorCode, SwitchyardError } from './errors.js';
import type { RetryReason } from './events.js';

/**
 * An upstream attempt that failed: before the client got a byte of its
 * response, or (from the response body stream, see `bodyFailure`) after its
 * headers. Carries what the retry stage needs to decide; whose fault it is
 * comes from `classifyFailure`.
 *
 * @example
 * ```ts
 * let resets = 0;
 * lb.on('upstream:error', ({ code }) => { if (code === 'ERR_UPSTREAM_RESET') resets++; });
 * ```
 */
export class UpstreamError extends SwitchyardError {
  /** Why it failed, in retry terms. */
  readonly reason: RetryReason;
  /** The request went out on a pooled socket the backend may have been closing. */
  readonly reusedSocket: boolean;
  /** Id of the backend that failed. */
  readonly backend: string;

  constructor(
    code: ErrorCode,
    message: string,
    backend: string,
    reason: RetryReason,
    reusedSocket: boolean,
    cause?: unknown,
  ) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.name = 'UpstreamError';
    this.reason = reason;
    this.reusedSocket = reusedSocket;
    this.backend = backend;
  }
}
