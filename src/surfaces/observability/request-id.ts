import { randomUuid } from './random-hex.js';

/** Up to 128 characters that are safe in a header, a log line and a URL path. */
const SAFE_ID = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;

/**
 * The request id to use: the client's when it is well formed (1 to 128 of
 * `A-Z a-z 0-9 . _ ~ : @ + = / -`; a repeated header is not), else a new
 * random UUID.
 *
 * @example
 * ```ts
 * import { requestId } from './request-id.js';
 * requestId(req.headers['x-request-id']); // the client's id, or a fresh UUID
 * ```
 */
export function requestId(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUuid();
}
