/**
 * The one ordered list of pipeline stages. The pipeline order, the stage
 * names user middleware anchors to, the stages' option sections and the
 * sections `configure()` can change are all derived from {@link STAGES}.
 *
 * @module
 */
import type { z } from 'zod';
import type { StageSection } from '../core/stage.js';
import { cacheStage } from './cache/index.js';
import { circuitBreakerStage } from './circuit-breaker/index.js';
import { forwardStage } from './forward/index.js';
import { rateLimitStage } from './rate-limit/index.js';
import { retryStage } from './retry/index.js';
import { selectStage } from './select/index.js';
import { stickySessionStage } from './sticky-session/index.js';

/**
 * The built-in stages in pipeline order. `retry` splits the chain: the
 * stages before it run once per request, the ones after it once per attempt.
 */
export const STAGES = [
  rateLimitStage,
  stickySessionStage,
  cacheStage,
  retryStage,
  selectStage,
  circuitBreakerStage,
  forwardStage,
] as const;

/** A built-in stage. */
export type BuiltinStage = (typeof STAGES)[number];

/**
 * The built-in stages' names, in pipeline order (anchors for user middleware's `before`/`after`).
 *
 * @useDeclaredType
 */
export type StageName = BuiltinStage['name'];

/** {@link StageName} as a list, for validation. */
export const STAGE_NAMES = STAGES.map((stage) => stage.name) as [StageName, ...StageName[]];

type Sectioned = Extract<BuiltinStage, { section: StageSection }>;
type RuntimeSectioned = Extract<Sectioned, { section: { runtime: z.ZodType } }>;

/** The option sections of the stages, keyed by option name, as `createLoadBalancer` validates them. */
export type StageSections = { [S in Sectioned as S['section']['key']]: S['section']['schema'] };
/** The stage sections `configure()` can change, as it validates them. */
export type RuntimeStageSections = { [S in RuntimeSectioned as S['section']['key']]: S['section']['runtime'] };

const sectioned = STAGES.flatMap((stage) => (stage.section ? [stage.section as StageSection] : []));

/** {@link StageSections}, derived from {@link STAGES}. */
export const stageSections = Object.fromEntries(sectioned.map((s) => [s.key, s.schema])) as StageSections;
/** {@link RuntimeStageSections}, derived from {@link STAGES}. */
export const runtimeStageSections = Object.fromEntries(
  sectioned.flatMap((s) => (s.runtime ? [[s.key, s.runtime]] : [])),
) as RuntimeStageSections;
/** Stage sections a `configure()` patch replaces whole. */
export const replacedStageSections = sectioned.flatMap((s) =>
  s.replace ? [s.key] : [],
) as (keyof RuntimeStageSections)[];
