import { compose, type Middleware } from '../core/compose.js';
import type { Context } from '../core/context.js';
import type { StageHandle } from '../core/stage.js';
import type { StageDeps } from '../stages/deps.js';
import { type BuiltinStage, STAGES, type StageName } from '../stages/index.js';
import { buildPipeline, type MiddlewareEntry, type Pipeline } from '../stages/pipeline.js';

type AnyHandle = StageHandle<never>;
type Create = (options: unknown, deps: StageDeps) => AnyHandle;
type Update = (options: unknown) => AnyHandle;
/** The handle type a built-in stage's `create` returns. */
type HandleOf<N extends StageName> = ReturnType<Extract<BuiltinStage, { name: N }>['create']>;

/**
 * Hosts the pipeline: creates every stage of `STAGES` from its option
 * section, composes them with the user's middleware, and on a run-time
 * change re-creates just the stages that own or follow a changed section.
 * The one loop over the stage list; nothing else names a stage.
 *
 * @example
 * ```ts
 * import { PipelineHost } from './pipeline-host.js';
 * declare const deps: () => import('../stages/deps.js').StageDeps;
 * const host = new PipelineHost(config, deps, config.middleware);
 * await host.pipeline.run(ctx);
 * host.apply(new Set(['retry']), { ...config, retry: false });
 * ```
 */
export class PipelineHost {
  readonly #deps: () => StageDeps;
  readonly #user: readonly MiddlewareEntry[];
  readonly #handles = new Map<StageName, AnyHandle>();
  #pipeline: Pipeline;
  #upgrade: ((ctx: Context) => Promise<void>) | undefined;

  /**
   * @param sections - the resolved options, read by section key.
   * @param deps - called whenever a stage is (re)built: the deps in force now.
   */
  constructor(sections: Readonly<Record<string, unknown>>, deps: () => StageDeps, user: readonly MiddlewareEntry[]) {
    this.#deps = deps;
    this.#user = user;
    for (const stage of STAGES) this.#handles.set(stage.name, this.#create(stage, sections));
    this.#pipeline = this.#compose();
  }

  /** The composed pipeline now in force. */
  get pipeline(): Pipeline {
    return this.#pipeline;
  }

  /**
   * The chain run for an upgrade: every stage marked `upgrade`, in order
   * (rate limits and stickiness, then selection without queueing).
   */
  get upgrade(): (ctx: Context) => Promise<void> {
    return this.#upgrade as (ctx: Context) => Promise<void>;
  }

  /** The built handle of a stage (e.g. the cache's `admin`). */
  handle<N extends StageName>(name: N): HandleOf<N> {
    const handle: unknown = this.#handles.get(name);
    return handle as HandleOf<N>;
  }

  /**
   * Re-creates the stages whose section is in `changed` (through their
   * `update` when they have one) or that follow one of them, then
   * recomposes. Replaced handles are closed once the new chain is in force.
   */
  apply(changed: ReadonlySet<string>, sections: Readonly<Record<string, unknown>>): void {
    const retired: AnyHandle[] = [];
    let touched = false;
    for (const stage of STAGES) {
      const own = stage.section !== undefined && changed.has(stage.section.key);
      const follows = stage.follows?.some((key) => changed.has(key)) ?? false;
      if (!own && !follows) continue;
      const previous = this.#handles.get(stage.name) as AnyHandle;
      const update = previous.update as Update | undefined;
      if (own && update) {
        this.#handles.set(stage.name, update.call(previous, stage.section ? sections[stage.section.key] : undefined));
      } else {
        this.#handles.set(stage.name, this.#create(stage, sections));
        retired.push(previous);
      }
      touched = true;
    }
    if (!touched) return;
    this.#pipeline = this.#compose();
    for (const handle of retired) Promise.resolve(handle.close?.()).catch(() => {});
  }

  /** Closes every stage (stores, limiters, timers). */
  async close(): Promise<void> {
    for (const handle of this.#handles.values()) await handle.close?.();
  }

  #create(stage: BuiltinStage, sections: Readonly<Record<string, unknown>>): AnyHandle {
    const options = stage.section ? sections[stage.section.key] : undefined;
    return (stage.create as Create)(options, this.#deps());
  }

  #compose(): Pipeline {
    const handles = Object.fromEntries(this.#handles) as Partial<Record<StageName, AnyHandle>>;
    const upgrade: { name: string; handle: Middleware }[] = [];
    for (const stage of STAGES) {
      const handle = this.#handles.get(stage.name);
      const middleware = handle?.upgrade ?? handle?.middleware;
      if (stage.upgrade && middleware) upgrade.push({ name: stage.name, handle: middleware });
    }
    const run = compose(upgrade);
    this.#upgrade = (ctx) => run(ctx);
    return buildPipeline(handles, this.#user);
  }
}
