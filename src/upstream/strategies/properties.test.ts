import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext } from '../../core/strategy.js';
import { createStrategy, STRATEGY_NAMES, type StrategyOption } from './create-strategy.js';
import { seededRandom } from './random.js';

interface TestBackend extends Candidate {
  active: number;
  weight: number;
  effectiveWeight: number;
}

const OPTIONS: StrategyOption[] = [
  ...STRATEGY_NAMES,
  { name: 'consistent-hash', balanceFactor: 1.25, virtualNodes: 5 },
  { name: 'consistent-hash', key: { cookie: 'sid' } },
  { name: 'maglev', tableSize: 7 },
  { name: 'maglev', key: { header: 'x-user', fallback: 'x-alt' } },
];

const weightArb = fc.oneof(
  fc.constantFrom(0, 1, 2, 5, 0.5),
  fc.double({ min: 0, max: 100, noNaN: true }),
  fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY),
);

const backendsArb = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 25 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.tuple(weightArb, weightArb, fc.nat(20)), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, props]) =>
    ids.map((id, i): TestBackend => {
      const [weight, effectiveWeight, active] = props[i]!;
      return { id, weight, effectiveWeight, active };
    }),
  );

const stepArb = fc.record({
  mask: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
  ip: fc.string({ maxLength: 15 }),
  user: fc.option(fc.string({ maxLength: 8 })),
  cookie: fc.option(fc.string({ maxLength: 30 })),
  latency: fc.double({ min: 0, max: 5000, noNaN: true }),
  ok: fc.boolean(),
  dt: fc.nat(3000),
  update: fc.boolean(),
});

describe('every strategy', () => {
  it('only ever picks one of the given candidates (fast-check: weights, subsets, updates, observations)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...OPTIONS),
        backendsArb,
        fc.boolean(),
        fc.array(stepArb, { minLength: 1, maxLength: 30 }),
        fc.integer(),
        (option, backends, callUpdate, steps, seed) => {
          const strategy = createStrategy<TestBackend>(option, { random: seededRandom(seed) });
          if (callUpdate) strategy.update?.(backends);
          let now = 0;
          for (const step of steps) {
            let candidates = backends.filter((_, i) => step.mask[i]);
            if (candidates.length === 0) candidates = [backends[backends.length - 1]!];
            if (step.update) strategy.update?.(backends.slice(0, Math.ceil(backends.length / 2)));
            const headers: Record<string, string> = {};
            if (step.user !== null) headers['x-user'] = step.user;
            if (step.cookie !== null) headers.cookie = step.cookie;
            now += step.dt;
            const ctx: SelectionContext = {
              req: { headers } as unknown as IncomingMessage,
              clientAddress: step.ip,
              now,
              attempt: 1,
            };
            const picked = strategy.pick(candidates, ctx);
            expect(candidates).toContain(picked);
            picked!.active++;
            strategy.observe?.(picked!, { latencyMs: step.latency, ok: step.ok, now: now + step.latency });
          }
          strategy.close?.();
        },
      ),
      { numRuns: 400 },
    );
  });
});
