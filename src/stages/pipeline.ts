import { compose, type Middleware, type NamedMiddleware, type StageName } from '../core/compose.js';
import type { Context } from '../core/context.js';
import { ConfigError } from '../core/errors.js';
import type { MiddlewareEntry } from '../options/options.js';

/** Every stage slot in pipeline order; `retry` splits the outer chain from the per-attempt bracket. */
export const STAGE_ORDER: readonly StageName[] = [
  'rate-limit',
  'sticky-session',
  'cache',
  'retry',
  'select',
  'circuit-breaker',
  'forward',
];

/** A built-in stage, or `undefined` when the feature is off (it then costs nothing per request). */
export type Stages = Partial<Record<StageName, Middleware>>;

/** The composed pipeline: what runs once per request, and what runs once per attempt. */
export interface Pipeline {
  /** The whole pipeline for one request. */
  run(ctx: Context): Promise<void>;
  /** Names of the middleware in the chain, in order (for diagnostics and tests). */
  readonly names: readonly string[];
}

/**
 * Lays out built-in stages and user middleware, drops the disabled stages,
 * and composes the two chains. `makeRetry` receives the composed attempt
 * bracket and returns the retry stage wrapping it (or `undefined` when retry
 * is off, in which case the bracket runs once as the end of the outer chain).
 */
export function buildPipeline(
  stages: Stages,
  user: readonly MiddlewareEntry[],
  makeRetry: ((bracket: (ctx: Context) => Promise<void>) => Middleware) | undefined,
): Pipeline {
  type Slot = { name: string; handle?: Middleware; stage?: StageName };
  const slots: Slot[] = STAGE_ORDER.map((stage) => ({ name: stage, stage, handle: stages[stage] }));
  const seen = new Set<string>(STAGE_ORDER);
  user.forEach((entry, i) => {
    if (entry.before && entry.after) {
      throw new ConfigError(
        `middleware[${i}]`,
        { before: entry.before, after: entry.after },
        'either before or after, not both',
      );
    }
    if (seen.has(entry.name))
      throw new ConfigError(`middleware[${i}].name`, entry.name, 'a name not used by another middleware or stage');
    seen.add(entry.name);
    const anchor = entry.after ?? entry.before ?? 'forward';
    const index = slots.findIndex((slot) => slot.stage === anchor);
    slots.splice(entry.after ? index + 1 : index, 0, { name: entry.name, handle: entry.handle });
  });
  const split = slots.findIndex((slot) => slot.stage === 'retry');
  const toNamed = (list: Slot[]): NamedMiddleware[] =>
    list
      .filter((slot) => slot.handle && slot.stage !== 'retry')
      .map((slot) => ({ name: slot.name, handle: slot.handle as Middleware }));
  const outer = toNamed(slots.slice(0, split));
  const bracketList = toNamed(slots.slice(split + 1));
  const bracketRun = compose(bracketList);
  const bracket = (ctx: Context) => bracketRun(ctx);
  const retry = makeRetry?.(bracket);
  const outerList = retry ? [...outer, { name: 'retry', handle: retry }] : outer;
  const outerRun = compose(outerList);
  const run = retry ? (ctx: Context) => outerRun(ctx) : (ctx: Context) => outerRun(ctx, () => bracketRun(ctx));
  return { run, names: Object.freeze([...outerList, ...bracketList].map((m) => m.name)) };
}
