import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PendingResponse } from '../core/context.js';
import { type ErrorCode, SwitchyardError } from '../core/errors.js';

/**
 * Renders a response the balancer makes itself, in your format: an upstream
 * failure (502/503/504), a refusal (429 rate limited, 403 denied, 503 queue
 * full...), a bad request (400) or a middleware error (500). Not called for
 * responses from a backend, whatever their status.
 *
 * When it runs, `res.statusCode` is already `error.status` and `res` already
 * carries the headers the balancer would send (`Retry-After`, `RateLimit-*`,
 * the request id, `Cache-Control: no-store`); keep or change them, then write
 * the response. If it returns (or its promise settles) without having sent
 * headers, or throws before, the client gets the default JSON body instead.
 * The `request` event still reports `error.code`. `error.message` may name
 * the backend or its address (it is meant for logs): show clients
 * `error.code`, `error.status` or `error.toClientJSON()`.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({
 *   backends,
 *   onError(error, req, res) {
 *     if (!req.headers.accept?.includes('text/html')) return; // the default JSON
 *     res.setHeader('content-type', 'text/html; charset=utf-8');
 *     res.end(`<h1>Sorry</h1><p>${error.status === 429 ? 'Slow down' : 'Try again soon'}.</p>`);
 *   },
 * });
 * ```
 */
export type ErrorHandler = (error: SwitchyardError, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The error behind a refusal a middleware answered with `ctx.reply(..., code)`:
 * its code, and the message of the JSON body the balancer made.
 *
 * @example
 * ```ts
 * import { refusalError } from './error-response.js';
 * const error = ctx.response && refusalError('ERR_RATE_LIMITED', ctx.response); // error.status === 429
 * ```
 */
export function refusalError(code: ErrorCode, response: PendingResponse): SwitchyardError {
  let message: string = code;
  if (Buffer.isBuffer(response.body)) {
    try {
      const parsed = JSON.parse(response.body.toString('utf8')) as { error?: { message?: unknown } };
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      // Not the balancer's JSON: the code says enough.
    }
  }
  return new SwitchyardError(code, message, { status: response.status });
}

/**
 * Hands a balancer-made response to `render`. Resolves `true` when the
 * handler sent it (headers out), `false` when the default body should go out.
 *
 * @example
 * ```ts
 * import { renderError } from './error-response.js';
 * import { sendResponse } from '../upstream/forwarder/forwarder.js';
 * declare const [onError, error, , , response]: Parameters<typeof renderError>;
 * if (!(await renderError(onError, error, req, res, response))) sendResponse(res, response, () => {});
 * ```
 */
export async function renderError(
  render: ErrorHandler,
  error: SwitchyardError,
  req: IncomingMessage,
  res: ServerResponse,
  response: PendingResponse,
): Promise<boolean> {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) {
    // The body's own framing is the handler's to set.
    if (value === undefined || name === 'content-length' || name === 'content-type') continue;
    res.setHeader(name, value);
  }
  try {
    await render(error, req, res);
  } catch (thrown) {
    if (res.headersSent && !res.writableEnded) res.destroy(thrown instanceof Error ? thrown : undefined);
  }
  return res.headersSent;
}
