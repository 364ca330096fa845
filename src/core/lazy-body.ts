import type { ServerResponse } from 'node:http';
import type { BodyOutcome } from './fault.js';

/**
 * The key of a response's {@link LazyBody}: a forwarder may hand the pipeline
 * a response whose `body` stream is made only when something reads
 * `response.body`. The balancer's own stages never need the stream: they
 * watch the outcome, discard or send the body through this handle, so an
 * answer that goes straight to the client costs no `Readable`.
 */
export const kLazyBody: unique symbol = Symbol('switchyard.lazyBody');

/** A streamed response body not yet made into a `Readable`: the balancer's stages send, watch and discard it without one. */
export interface LazyBody {
  /** Writes the body to `res` as it arrives and ends `res` with it; `onBodyError` hears a failure mid-body. */
  sendTo(res: ServerResponse, onBodyError: (error: Error) => void): void;
  /** Calls `done` once, when the body is over, as `onBodyOutcome` does for a stream. */
  watch(done: (outcome: BodyOutcome, error?: Error) => void): void;
  /** Drops the body unread: the upstream exchange stops (an `'abandoned'` outcome). */
  discard(): void;
  /** The client exchange is over: drops the body unless it was sent or read to its end. */
  release(): void;
}
