import { describe, expect, it } from 'vitest';
import { AdaptiveLimit, createLimiter } from './adaptive-limit.js';
import { Gradient2Limiter } from './gradient2.js';
import type { ConcurrencyLimiter } from './limiter.js';
import { VegasLimiter } from './vegas.js';

const base = {
  algorithm: 'gradient2' as const,
  initialLimit: 20,
  minLimit: 1,
  maxLimit: 200,
  smoothing: undefined,
  tolerance: 1.5,
  queueSize: 4,
  longWindow: 600,
  probeMultiplier: 30,
};

describe('AdaptiveLimit', () => {
  it('reports whole-number changes only, with the previous limit', () => {
    const changes: Array<[number, number]> = [];
    const limit = new AdaptiveLimit(new Gradient2Limiter(base), (l, p) => changes.push([l, p]));
    for (let i = 0; i < 3; i++) limit.sample(10, 20, false);
    // 20.8, 21.6, 22.4: two whole-number changes
    expect(changes).toEqual([
      [21, 20],
      [22, 21],
    ]);
    expect(limit.limit).toBe(22);
  });

  it('keeps the last good limit when a custom limiter reports nonsense', () => {
    let value = 5;
    const custom: ConcurrencyLimiter = {
      get limit() {
        return value;
      },
      update() {},
    };
    const limit = new AdaptiveLimit(custom, () => {});
    value = Number.NaN;
    limit.sample(1, 1, false);
    expect(limit.limit).toBe(5);
    value = 0.2;
    limit.sample(1, 1, false);
    expect(limit.limit).toBe(1);
  });

  it('builds the configured algorithm or the user factory', () => {
    expect(createLimiter(base, 'a', Math.random)).toBeInstanceOf(Gradient2Limiter);
    expect(createLimiter({ ...base, algorithm: 'vegas' }, 'a', Math.random)).toBeInstanceOf(VegasLimiter);
    const mine: ConcurrencyLimiter = { limit: 3, update() {} };
    const ids: string[] = [];
    expect(
      createLimiter(
        {
          ...base,
          algorithm: (id: string) => {
            ids.push(id);
            return mine;
          },
        },
        'b',
        Math.random,
      ),
    ).toBe(mine);
    expect(ids).toEqual(['b']);
  });
});
