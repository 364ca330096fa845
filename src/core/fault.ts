/**
 * Whose fault a failed upstream exchange is: the one rule the breaker, outlier
 * detection, the strategies, the backend's stats and retry all follow.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { SwitchyardError } from './errors.js';
import { UpstreamError } from './upstream-error.js';

/**
 * Who a failure is charged to.
 *
 * - `'backend'`: the backend failed (refused, reset, stalled, timed out,
 *   malformed answer, died mid-body). Counted by the breaker, outlier
 *   detection, the strategy and `stats()`.
 * - `'client'`: the client went away, or sent a malformed request body
 *   (`ERR_BAD_REQUEST`). Charged to nobody upstream, never retried.
 * - `'none'`: nobody's fault: a hedge that lost, a breaker that refused (its
 *   failures were counted already), the idle keep-alive race, or an error that
 *   is not an upstream failure at all (a user middleware's bug).
 */
export type Fault = 'backend' | 'client' | 'none';

/**
 * The idle keep-alive race: the backend closed a pooled keep-alive socket
 * just as a request went out on it, before any byte of a response. Node's
 * documented case for `request.reusedSocket`: safe to send again on a fresh
 * connection, and no sign the backend is unwell.
 *
 * @example
 * ```ts
 * import { isIdleRace } from 'switchyard-lb';
 * if (isIdleRace(error)) ctx.tried.delete(backend); // the same backend may take the retry
 * ```
 */
export function isIdleRace(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.reusedSocket && error.code === 'ERR_UPSTREAM_RESET';
}

/**
 * Classifies a failure of an upstream attempt (see {@link Fault}).
 *
 * @example
 * ```ts
 * import { classifyFailure } from 'switchyard-lb';
 * declare const error: import('./upstream-error.js').UpstreamError;
 * declare const outliers: import('../upstream/health/outlier.js').OutlierDetector;
 * if (classifyFailure(error) === 'backend') outliers.failure(backend, error);
 * ```
 */
export function classifyFailure(error: unknown): Fault {
  if (!(error instanceof SwitchyardError)) return 'none';
  switch (error.code) {
    case 'ERR_CLIENT_ABORTED':
    case 'ERR_BAD_REQUEST':
      return 'client';
    case 'ERR_CANCELLED':
    case 'ERR_BREAKER_OPEN':
      return 'none';
  }
  if (!(error instanceof UpstreamError)) return 'none';
  return isIdleRace(error) ? 'none' : 'backend';
}

/**
 * How a streamed response body ended: `'complete'` (every byte read),
 * `'failed'` (the upstream broke it: reset, stall, malformed framing) or
 * `'abandoned'` (destroyed without an error: the client left or the answer
 * was discarded for a retry; nobody's fault).
 */
export type BodyOutcome = 'complete' | 'failed' | 'abandoned';

/**
 * Calls `done` once, when `body` ends, fails or is abandoned (see
 * {@link BodyOutcome}). A stream that has already finished reports at once.
 *
 * @example
 * ```ts
 * import { bodyFailure, onBodyOutcome } from './fault.js';
 * declare const proxyRes: import('node:http').IncomingMessage;
 * declare const outliers: import('../upstream/health/outlier.js').OutlierDetector;
 * onBodyOutcome(proxyRes, (outcome, error) => {
 *   if (outcome === 'failed') outliers.failure(backend, bodyFailure(backend.id, error));
 * });
 * ```
 */
export function onBodyOutcome(body: Readable, done: (outcome: BodyOutcome, error?: Error) => void): void {
  if (body.readableEnded) {
    done('complete');
    return;
  }
  if (body.destroyed) {
    const error = body.errored;
    done(error ? 'failed' : 'abandoned', error ?? undefined);
    return;
  }
  // One watch per body, its listeners shared by every caller: no closure or once-wrapper per request.
  const watched = body as WatchedBody;
  const watch = watched[kOutcome];
  if (watch !== undefined && !watch.over) {
    watch.callbacks.push(done);
    return;
  }
  watched[kOutcome] = { over: false, callbacks: [done] };
  body.on('end', onOutcomeEnd);
  body.on('error', onOutcomeError);
  body.on('close', onOutcomeClose);
}

/** The outcome watch of a body: who waits for it, and whether it is known. */
interface OutcomeWatch {
  over: boolean;
  callbacks: Array<(outcome: BodyOutcome, error?: Error) => void>;
}
const kOutcome = Symbol('switchyard.bodyOutcome');
type WatchedBody = Readable & { [kOutcome]?: OutcomeWatch };

function settleOutcome(body: WatchedBody, outcome: BodyOutcome, error?: Error): void {
  const watch = body[kOutcome];
  if (watch === undefined || watch.over) return;
  watch.over = true;
  for (const done of watch.callbacks) done(outcome, error);
}

function onOutcomeEnd(this: WatchedBody): void {
  settleOutcome(this, 'complete');
}

function onOutcomeError(this: WatchedBody, error: Error): void {
  settleOutcome(this, 'failed', error);
}

function onOutcomeClose(this: WatchedBody): void {
  settleOutcome(this, this.readableEnded ? 'complete' : 'abandoned');
}

/**
 * The {@link UpstreamError} for a response body the backend broke after its
 * headers (`error` is what the body stream reported). An `UpstreamError`
 * already (the forwarder's idle-stall timeout) is returned as it is.
 *
 * @example
 * ```ts
 * import { bodyFailure } from './fault.js';
 * bodyFailure('a', Object.assign(new Error('aborted'), { code: 'ECONNRESET' })).code; // 'ERR_UPSTREAM_RESET'
 * ```
 */
export function bodyFailure(backend: string, error: Error | undefined): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as { code?: string } | undefined)?.code;
  if (code?.startsWith('HPE_')) {
    return new UpstreamError(
      'ERR_UPSTREAM_PROTOCOL',
      `backend ${backend} sent a malformed response body`,
      backend,
      'reset',
      false,
      error,
    );
  }
  return new UpstreamError(
    'ERR_UPSTREAM_RESET',
    `backend ${backend} broke off mid-body`,
    backend,
    'reset',
    false,
    error,
  );
}
