/**
 * The `circuit-breaker` stage: runs each attempt through its backend's breaker.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { circuitBreaker } from './middleware.js';
import { circuitBreakerOption, circuitBreakerSchema } from './options.js';

/** The `circuit-breaker` stage (on by default; `false` takes it out of the chain). */
export const circuitBreakerStage = defineStage({
  name: 'circuit-breaker',
  section: {
    key: 'circuitBreaker',
    schema: circuitBreakerOption.default(() => circuitBreakerSchema.parse({})),
    runtime: circuitBreakerOption,
  },
  upgrade: false,
  create: (options, deps) => (options === false ? {} : { middleware: circuitBreaker(deps.breakers) }),
});
