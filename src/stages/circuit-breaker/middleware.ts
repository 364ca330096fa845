import type { Middleware } from '../../core/compose.js';
import type { Breakers } from './breakers.js';

/**
 * The `circuit-breaker` stage: runs the rest of the attempt through the
 * chosen backend's breaker. A closed breaker counts the outcome (connect
 * failures, resets, timeouts, malformed answers and `failureStatuses` are
 * failures); a half-open one admits only its probes; an open one (reached
 * only in a race with selection) rejects with `ERR_BREAKER_OPEN`, an
 * `UpstreamError` the retry stage retries on another backend.
 */
export function circuitBreaker(breakers: Breakers): Middleware {
  return async function circuitBreaker(ctx, next) {
    const backend = ctx.backend;
    if (!backend) throw new Error('circuit-breaker needs ctx.backend: is select in the chain?');
    const breaker = breakers.get(backend);
    return breaker ? breaker.run(ctx, next) : next();
  };
}
