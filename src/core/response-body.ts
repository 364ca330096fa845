import { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { PendingResponse } from './context.js';
import { type BodyOutcome, onBodyOutcome } from './fault.js';
import { kLazyBody, type LazyBody } from './lazy-body.js';

export { kLazyBody, type LazyBody } from './lazy-body.js';

/** A response that may carry a {@link LazyBody}. */
type MaybeLazy = PendingResponse & { [kLazyBody]?: LazyBody | undefined };

/** The response's body still as a {@link LazyBody} (nothing has read `response.body`), if it is one. */
export function lazyBody(response: PendingResponse): LazyBody | undefined {
  return (response as MaybeLazy)[kLazyBody];
}

/** The streamed body of `response` as the forwarder gave it: its {@link LazyBody}, or its stream. */
export function streamedBody(response: PendingResponse): Readable | LazyBody | undefined {
  const lazy = (response as MaybeLazy)[kLazyBody];
  if (lazy !== undefined) return lazy;
  const body = response.body;
  return body === undefined || Buffer.isBuffer(body) ? undefined : body;
}

function isLazy(body: Readable | LazyBody): body is LazyBody {
  return typeof (body as LazyBody).watch === 'function';
}

/** Calls `done` once `body` (see {@link streamedBody}) is over, without making a lazy body into a stream. */
export function watchBody(body: Readable | LazyBody, done: (outcome: BodyOutcome, error?: Error) => void): void {
  if (isLazy(body)) body.watch(done);
  else onBodyOutcome(body, done);
}

/** Drops the streamed body of `response`, if any, stopping its upstream exchange. */
export function discardBody(response: PendingResponse): void {
  const body = streamedBody(response);
  if (body === undefined) return;
  if (isLazy(body)) body.discard();
  else body.destroy();
}

/**
 * The client exchange is over: an upstream body that nothing read to its end
 * (a middleware replaced `response.body`, or dropped the response) is
 * destroyed, so its backend connection does not stay busy.
 */
export function releaseBody(body: Readable | LazyBody): void {
  if (isLazy(body)) body.release();
  else if (!body.readableEnded && !body.destroyed) body.destroy();
}
