import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { type PlanMember, planRollout, removedAfter } from './plan.js';

const member = (id: string, extra: Partial<PlanMember> = {}): PlanMember => ({
  id,
  url: `http://${id}.internal/`,
  weight: 1,
  maxConnections: Number.POSITIVE_INFINITY,
  draining: false,
  ...extra,
});

function pathOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).path;
  }
  throw new Error('did not throw');
}

describe('planRollout', () => {
  it('adds the new backends in batches and removes the old ones', () => {
    const plan = planRollout(
      [member('a'), member('b'), member('x', { draining: true })],
      [{ url: 'http://c.internal' }, { id: 'd', url: 'http://d.internal:8080' }, { url: 'http://e.internal' }],
      2,
    );
    expect(plan.from).toEqual(['a', 'b']);
    expect(plan.to).toEqual(['c.internal', 'd', 'e.internal']);
    expect(plan.add.map((b) => b.id)).toEqual(['c.internal', 'd', 'e.internal']);
    expect(plan.remove).toEqual(['a', 'b']);
    expect(plan.batches).toBe(2);
  });

  it('keeps a backend with the same id and URL, remembering both weights', () => {
    const plan = planRollout(
      [member('a', { weight: 2 }), member('b')],
      [{ id: 'a', url: 'http://a.internal', weight: 5 }, { url: 'http://c.internal' }],
      1,
    );
    expect(plan.keep).toEqual([
      {
        id: 'a',
        next: { weight: 5, maxConnections: Number.POSITIVE_INFINITY },
        previous: { weight: 2, maxConnections: Number.POSITIVE_INFINITY },
      },
    ]);
    expect(plan.remove).toEqual(['b']);
  });

  it('refuses ids it cannot honour', () => {
    const members = [member('a'), member('x', { draining: true })];
    expect(pathOf(() => planRollout(members, [{ id: 'a', url: 'http://elsewhere' }], 1))).toBe('backends[0].id');
    expect(pathOf(() => planRollout(members, [{ url: 'http://c' }, { id: 'x', url: 'http://x.internal' }], 1))).toBe(
      'backends[1].id',
    );
    expect(pathOf(() => planRollout(members, [{ url: 'http://c' }, { url: 'http://c' }], 1))).toBe('backends[1].id');
    expect(pathOf(() => planRollout(members, [{ id: 'a', url: 'http://a.internal' }], 1))).toBe('backends');
  });
});

describe('removedAfter', () => {
  it('spreads removals evenly, rounding down, and removes all after the last batch', () => {
    expect([0, 1, 2, 3].map((b) => removedAfter(3, b, 1))).toEqual([0, 0, 0, 1]);
    expect([0, 1, 2].map((b) => removedAfter(2, b, 4))).toEqual([0, 2, 4]);
    expect([0, 1].map((b) => removedAfter(1, b, 3))).toEqual([0, 3]);
  });
});
