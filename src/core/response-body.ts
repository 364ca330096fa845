import type { ServerResponse } from 'node:http';
import type { PendingResponse } from './context.js';
import { type BodyOutcome, onBodyOutcome } from './fault.js';

/**
 * The key of a response's {@link LazyBody}: a forwarder may hand the pipeline
 * a response whose `body` stream is made only when something reads
 * `response.body`. The balancer's own stages never need the stream: they
 * watch the outcome, discard or send the body through this handle, so an
 * answer that goes straight to the client costs no `Readable`.
 */
export const kLazyBody: unique symbol = Symbol('switchyard.lazyBody');

/** A streamed response body not yet made into a `Readable` (see {@link kLazyBody}). */
export interface LazyBody {
  /** Writes the body to `res` as it arrives and ends `res` with it; `onBodyError` hears a failure mid-body. */
  sendTo(res: ServerResponse, onBodyError: (error: Error) => void): void;
  /** Calls `done` once, when the body is over, as {@link onBodyOutcome} does for a stream. */
  watch(done: (outcome: BodyOutcome, error?: Error) => void): void;
  /** Drops the body unread: the upstream exchange stops (an `'abandoned'` outcome). */
  discard(): void;
}

/** A response that may carry a {@link LazyBody}. */
export type MaybeLazy = PendingResponse & { [kLazyBody]?: LazyBody | undefined };

/** The response's body still as a {@link LazyBody} (nothing has read `response.body`), if it is one. */
export function lazyBody(response: PendingResponse): LazyBody | undefined {
  return (response as MaybeLazy)[kLazyBody];
}

/**
 * Whether the response's body is streamed (a stream or a {@link LazyBody}),
 * as opposed to bytes the balancer holds or no body: only a streamed body has
 * an outcome to wait for.
 */
export function isStreamed(response: PendingResponse): boolean {
  if ((response as MaybeLazy)[kLazyBody] !== undefined) return true;
  const body = response.body;
  return body !== undefined && !Buffer.isBuffer(body);
}

/**
 * Calls `done` once the streamed body of `response` is over (see
 * {@link BodyOutcome}), without making a lazy body into a stream. A response
 * whose body is bytes or absent is complete at once.
 */
export function onResponseOutcome(
  response: PendingResponse,
  done: (outcome: BodyOutcome, error?: Error) => void,
): void {
  const lazy = (response as MaybeLazy)[kLazyBody];
  if (lazy !== undefined) {
    lazy.watch(done);
    return;
  }
  const body = response.body;
  if (body === undefined || Buffer.isBuffer(body)) done('complete');
  else onBodyOutcome(body, done);
}

/** Drops the streamed body of `response`, if any, stopping its upstream exchange. */
export function discardBody(response: PendingResponse): void {
  const lazy = (response as MaybeLazy)[kLazyBody];
  if (lazy !== undefined) {
    lazy.discard();
    return;
  }
  const body = response.body;
  if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
}
