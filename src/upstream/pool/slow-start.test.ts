import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { resolveSlowStart, type SlowStartOptions, slowStartFactor, slowStartWeight } from './slow-start.js';

describe('slow start', () => {
  const linear = resolveSlowStart({ window: '10s' });

  it('resolves defaults: aggression 1, a 10% floor, window in milliseconds, frozen', () => {
    expect(linear).toEqual({ window: 10_000, aggression: 1, minWeightPercent: 10 });
    expect(Object.isFrozen(linear)).toBe(true);
  });

  it('ramps linearly from the 10% floor to the full weight over the window', () => {
    expect(slowStartWeight(4, 0, linear)).toBeCloseTo(0.4);
    expect(slowStartWeight(4, 500, linear)).toBeCloseTo(0.4); // 5% of the way: still the floor
    expect(slowStartWeight(4, 2_500, linear)).toBeCloseTo(1);
    expect(slowStartWeight(4, 5_000, linear)).toBeCloseTo(2);
    expect(slowStartWeight(4, 9_999, linear)).toBeCloseTo(3.9996);
    expect(slowStartWeight(4, 10_000, linear)).toBe(4);
    expect(slowStartWeight(4, 1e12, linear)).toBe(4);
  });

  it('follows (t / window)^(1 / aggression): aggression 2 is at half weight a quarter of the way in', () => {
    const fast = resolveSlowStart({ window: 10_000, aggression: 2 });
    expect(slowStartFactor(2_500, fast)).toBeCloseTo(0.5);
    const slow = resolveSlowStart({ window: 10_000, aggression: 0.5 });
    expect(slowStartFactor(5_000, slow)).toBeCloseTo(0.25);
  });

  it('counts t as at least 1 ms, so a 0% floor still starts above 0', () => {
    const noFloor = resolveSlowStart({ window: 1000, minWeightPercent: 0 });
    expect(slowStartFactor(0, noFloor)).toBeCloseTo(0.001);
    expect(slowStartFactor(-50, noFloor)).toBeCloseTo(0.001);
    expect(slowStartFactor(Number.NaN, noFloor)).toBeCloseTo(0.001);
  });

  it('gives the full weight at once with a window of 0', () => {
    expect(slowStartFactor(0, resolveSlowStart({ window: 0 }))).toBe(1);
  });

  it('never decreases over time and stays within (0, 1]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0.05, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: -1000, max: 700_000, noNaN: true }),
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        (window, aggression, minWeightPercent, t, dt) => {
          const config = resolveSlowStart({ window, aggression, minWeightPercent });
          const a = slowStartFactor(t, config);
          const b = slowStartFactor(t + dt, config);
          expect(b).toBeGreaterThanOrEqual(a);
          expect(a).toBeGreaterThan(0);
          expect(b).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('rejects bad options with a ConfigError naming the option', () => {
    const cases: [unknown, string][] = [
      [{ window: '10s', aggression: 0 }, 'slowStart.aggression'],
      [{ window: '10s', aggression: -1 }, 'slowStart.aggression'],
      [{ window: '10s', minWeightPercent: 101 }, 'slowStart.minWeightPercent'],
      [{ window: '10s', minWeightPercent: -1 }, 'slowStart.minWeightPercent'],
      [{ window: 'soon' }, 'slowStart.window'],
      [{}, 'slowStart.window'],
      [{ window: '1s', ramp: 'linear' }, 'slowStart.ramp'],
    ];
    for (const [options, path] of cases) {
      let error: unknown;
      try {
        resolveSlowStart(options as SlowStartOptions);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
    }
  });
});
