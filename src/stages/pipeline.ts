import { z } from 'zod';
import { compose, type Middleware, type NamedMiddleware, trustStage } from '../core/compose.js';
import type { Context } from '../core/context.js';
import { ConfigError } from '../core/errors.js';
import type { StageHandle } from '../core/stage.js';
import { fn } from '../core/zod.js';
import { STAGE_NAMES, STAGES, type StageName } from './index.js';

/**
 * Built-in stages that always await the next() they call (or call none), run
 * by `compose` without its guard's extra promise. The circuit breaker marks
 * its own middleware (`trustStage`): it settles only once next() is over.
 */
const AWAITING_STAGES: ReadonlySet<StageName> = new Set<StageName>(['select', 'forward']);

/** One user middleware entry: the `middleware` option. */
export const middlewareSchema = z.strictObject({
  /** Name used in errors and by other middleware's `before`/`after`. */
  name: z.string().min(1),
  /** Insert before this stage. */
  before: z.enum(STAGE_NAMES).optional(),
  /** Insert after this stage. */
  after: z.enum(STAGE_NAMES).optional(),
  /** The middleware, Koa-style `(ctx, next) => Promise<void>`. */
  handle: fn<Middleware>(),
});

/** A user middleware entry. */
export type MiddlewareEntry = z.output<typeof middlewareSchema>;

/** The built stages by name; a missing or middleware-less one is off (it then costs nothing per request). */
export type Stages = Partial<Record<StageName, StageHandle<never>>>;

/** The composed pipeline: what runs once per request, and what runs once per attempt. */
export interface Pipeline {
  /** The whole pipeline for one request. */
  run(ctx: Context): Promise<void>;
  /** Names of the middleware in the chain, in order (for diagnostics and tests). */
  readonly names: readonly string[];
}

/**
 * Lays out the built stages (in {@link STAGES} order) and user middleware,
 * drops the disabled stages, and composes the two chains: the stages before
 * the one that `wraps` run once per request, the ones after it once per
 * attempt, repeated by its `wrap`. With that stage off, the bracket runs once
 * as the end of the outer chain.
 *
 * @example
 * ```ts
 * import { buildPipeline } from './pipeline.js';
 * declare const handles: Parameters<typeof buildPipeline>[0];
 * const pipeline = buildPipeline(handles, config.middleware);
 * await pipeline.run(ctx);
 * ```
 */
export function buildPipeline(stages: Stages, user: readonly MiddlewareEntry[]): Pipeline {
  type Slot = { name: string; handle?: Middleware | undefined; stage?: StageName };
  const slots: Slot[] = STAGES.map(({ name }) => ({ name, stage: name, handle: stages[name]?.middleware }));
  const seen = new Set<string>(STAGE_NAMES);
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
  const wrapper = STAGES.find((stage) => stage.wraps === true);
  const split = slots.findIndex((slot) => slot.stage === wrapper?.name);
  const toNamed = (list: Slot[]): NamedMiddleware[] =>
    list.flatMap((slot) => {
      if (!slot.handle || slot.stage === wrapper?.name) return [];
      if (slot.stage !== undefined && AWAITING_STAGES.has(slot.stage)) trustStage(slot.handle);
      return [{ name: slot.name, handle: slot.handle }];
    });
  const outer = toNamed(split === -1 ? [] : slots.slice(0, split));
  const bracketList = toNamed(slots.slice(split + 1));
  const bracketRun = compose(bracketList);
  const bracket = (ctx: Context) => bracketRun(ctx);
  const retry = wrapper ? stages[wrapper.name]?.wrap?.(bracket) : undefined;
  const outerList = retry && wrapper ? [...outer, { name: wrapper.name, handle: trustStage(retry) }] : outer;
  const outerRun = compose(outerList);
  // With nothing before the bracket and no retry, the bracket is the whole pipeline: no per-request closure.
  const run = retry
    ? (ctx: Context) => outerRun(ctx)
    : outer.length === 0
      ? (ctx: Context) => bracketRun(ctx)
      : (ctx: Context) => outerRun(ctx, () => bracketRun(ctx));
  return { run, names: Object.freeze([...outerList, ...bracketList].map((m) => m.name)) };
}
