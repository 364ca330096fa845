/**
 * The `retry` stage: repeats the per-attempt bracket (`select → … → forward`).
 *
 * @module
 */
import { z } from 'zod';
import type { StageHandle } from '../../core/stage.js';
import { defineStage, type StageDeps } from '../deps.js';
import { RetryBudget } from './budget.js';
import { retry } from './middleware.js';
import { type ResolvedRetryOptions, retrySchema } from './options.js';

const retryOption = z.union([z.literal(false), retrySchema]);

/** One configuration of the stage; the budget is kept across changes that leave its settings alone. */
function retryHandle(
  options: ResolvedRetryOptions | false,
  budget: RetryBudget | undefined,
  deps: StageDeps,
): StageHandle<ResolvedRetryOptions | false> {
  const { events, random, now, pool, queue, hedge } = deps;
  return {
    wrap:
      options === false
        ? undefined
        : (bracket) =>
            retry(options, hedge, bracket, {
              events,
              random,
              now,
              // With a queue, a retry may wait for a backend at its limit; without, it needs a free one.
              canRetry: queue ? (ctx) => pool.hasUntried(ctx.tried) : (ctx) => pool.candidates(ctx.tried).length > 0,
              canHedge: (ctx) => pool.candidates(ctx.tried).length > 0,
              budget,
            }),
    update(next) {
      const before = options === false ? false : options.budget;
      const after = next === false ? false : next.budget;
      const kept =
        JSON.stringify(before) === JSON.stringify(after) ? budget : after ? new RetryBudget(after) : undefined;
      return retryHandle(next, kept, deps);
    },
  };
}

/** The `retry` stage (on by default: 2 attempts of idempotent requests). */
export const retryStage = defineStage({
  name: 'retry',
  section: { key: 'retry', schema: retryOption.default(() => retrySchema.parse({})), runtime: retryOption },
  upgrade: false,
  wraps: true,
  create: (options, deps) =>
    retryHandle(options, options !== false && options.budget ? new RetryBudget(options.budget) : undefined, deps),
});
