import { type Middleware, trustStage } from '../../core/compose.js';
import type { Breakers } from './breakers.js';

/**
 * The `circuit-breaker` stage: runs the rest of the attempt through the
 * chosen backend's breaker. A closed breaker counts the outcome (connect
 * failures, resets, timeouts, malformed answers and `failureStatuses` are
 * failures); a half-open one admits only its probes; an open one (reached
 * only in a race with selection) rejects with `ERR_BREAKER_OPEN`, an
 * `UpstreamError` the retry stage retries on another backend.
 *
 * Not an `async` function (no promise of its own per request), and a
 * trusted stage for `compose`: every path settles only once the next() it
 * called is over (opossum's timeout is off; the forwarder owns timeouts).
 */
export function circuitBreaker(breakers: Breakers): Middleware {
  return trustStage(function circuitBreaker(ctx, next) {
    const backend = ctx.backend;
    if (!backend) return Promise.reject(new Error('circuit-breaker needs ctx.backend: is select in the chain?'));
    const breaker = breakers.get(backend);
    return breaker ? breaker.run(ctx, next) : next();
  });
}
