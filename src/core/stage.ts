import type { z } from 'zod';
import type { Middleware } from './compose.js';
import type { Context } from './context.js';

/**
 * What a stage's {@link Stage.create} returns for one configuration: its
 * middleware (or none, when the options turn it off and it must cost nothing
 * per request), and what to do on a run-time change and on close.
 *
 * @example
 * ```ts
 * import { type StageHandle } from 'switchyard-lb';
 * const handle: StageHandle<false | { header: string }> = {
 *   middleware: async function stamp(ctx, next) {
 *     ctx.upstreamHeaders['x-stamp'] = '1';
 *     await next();
 *   },
 * };
 * ```
 */
export interface StageHandle<O = unknown> {
  /** The request middleware; `undefined` leaves the stage out of the chain. */
  readonly middleware?: Middleware | undefined;
  /**
   * For the stage that repeats the per-attempt bracket (retry): its
   * middleware, built around the composed bracket.
   */
  readonly wrap?: ((attempt: (ctx: Context) => Promise<void>) => Middleware) | undefined;
  /** The middleware run for WebSocket upgrades when it differs from {@link middleware} (select: no queueing). */
  readonly upgrade?: Middleware | undefined;
  /**
   * Takes options changed by `configure()` and returns the handle to use from
   * now on, keeping what it may keep (the retry budget). Without it the host
   * closes this handle and creates a new one.
   */
  update?(options: O): StageHandle<O>;
  /** Releases timers, sockets and stores. */
  close?(): Promise<void> | void;
}

/**
 * The option section that configures a stage: one key of
 * `createLoadBalancer`'s options.
 */
export interface StageSection<K extends string = string, S extends z.ZodType = z.ZodType> {
  /** The option key, e.g. `'rateLimit'`. */
  readonly key: K;
  /** The section as `createLoadBalancer` validates it (default included). */
  readonly schema: S;
  /** The section as `configure()` validates it (no default), when it may change at run time. */
  readonly runtime?: z.ZodType | undefined;
  /** A `configure()` patch replaces the section whole instead of merging into it (its fields depend on its form). */
  readonly replace?: boolean;
}

/**
 * One stage of the request pipeline, as a unit: its name, its option
 * section, whether it also runs for upgrades, and how to build its
 * middleware. The ordered list of stages (`STAGES` in `src/stages/index.ts`)
 * is the one place the pipeline order, the option sections, the
 * `configure()` sections and the stage names come from.
 *
 * @typeParam N - the stage name, used by `before`/`after` of user middleware.
 * @typeParam Sec - the option section, or `undefined` for a stage that is always on.
 * @typeParam D - what the composition root hands every stage (`StageDeps`).
 *
 * @example
 * ```ts
 * import { type Stage } from 'switchyard-lb';
 * const timing: Stage<'timing', undefined, object> = {
 *   name: 'timing',
 *   section: undefined,
 *   upgrade: false,
 *   create: () => ({
 *     middleware: async function timing(ctx, next) {
 *       const start = performance.now();
 *       await next();
 *       ctx.response?.headers && (ctx.response.headers['server-timing'] = `lb;dur=${performance.now() - start}`);
 *     },
 *   }),
 * };
 * ```
 */
export interface Stage<
  N extends string = string,
  Sec extends StageSection | undefined = StageSection | undefined,
  D = never,
  H extends StageHandle<StageOptions<Sec>> = StageHandle<StageOptions<Sec>>,
> {
  readonly name: N;
  readonly section: Sec;
  /** Also runs for WebSocket and other upgrades (before the tunnel opens). */
  readonly upgrade: boolean;
  /**
   * Other option sections whose run-time change rebuilds this stage (it
   * reads them through its deps), e.g. `forward` follows `strategy`.
   */
  readonly follows?: readonly string[];
  /**
   * The stages after this one form the per-attempt bracket, which this
   * stage's handle repeats through {@link StageHandle.wrap} (retry).
   */
  readonly wraps?: boolean;
  /**
   * Checks the resolved options against the rest of the configuration at
   * build time; throws `ConfigError` to refuse them.
   */
  check?(options: StageOptions<Sec>, env: StageEnv): void;
  /** Builds the stage for these resolved options (`undefined` for a stage without a section). */
  create(options: StageOptions<Sec>, deps: D): H;
}

/** The resolved options a stage is created with. */
export type StageOptions<Sec> = Sec extends StageSection<string, infer S> ? z.output<S> : undefined;

/** What a stage's {@link Stage.check} may look at besides its own options. */
export interface StageEnv {
  /** The balancer has a shared Redis (`redis` is given). */
  readonly redis: boolean;
}
