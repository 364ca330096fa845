import type { IncomingMessage } from 'node:http';

/**
 * The parser error behind a client request that ended early, if that is
 * why: Node reports a body its parser rejected to the request only as
 * `aborted`, and keeps the real error (`HPE_INVALID_CHUNK_SIZE`...) on the
 * socket, which it has already answered with 400.
 *
 * @param req - The client request.
 * @returns The `HPE_*` error, or undefined when the client simply left.
 *
 * @example
 * ```ts
 * import { clientParseError } from './client-error.js';
 * const code = clientParseError(req) ? 'ERR_BAD_REQUEST' : 'ERR_CLIENT_ABORTED';
 * ```
 */
export function clientParseError(req: IncomingMessage): (Error & { code: string }) | undefined {
  const errored = (req.socket as { errored?: unknown } | null)?.errored as (Error & { code?: unknown }) | null;
  return errored && typeof errored.code === 'string' && errored.code.startsWith('HPE_')
    ? (errored as Error & { code: string })
    : undefined;
}
