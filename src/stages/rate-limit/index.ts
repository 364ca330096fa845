/**
 * The `rate-limit` stage: keyed limits, first in the pipeline, also for upgrades.
 *
 * @module
 */
import { defineStage } from '../deps.js';
import { rateLimit } from './middleware.js';
import { rateLimitSchema } from './options.js';

/** The `rate-limit` stage (off unless `rateLimit` is given; `configure()` replaces it whole). */
export const rateLimitStage = defineStage({
  name: 'rate-limit',
  section: { key: 'rateLimit', schema: rateLimitSchema.optional(), runtime: rateLimitSchema, replace: true },
  upgrade: true,
  create(options, deps) {
    if (!options) return {};
    const limits = rateLimit(options, deps);
    return { middleware: limits.middleware, close: () => limits.close() };
  },
});
