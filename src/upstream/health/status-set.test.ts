import { describe, expect, it } from 'vitest';
import { statusMatcher, statusSet } from './status-set.js';

describe('statusSet', () => {
  it('reads a status, a [min, max] range, or a list of both as ranges', () => {
    const schema = statusSet();
    expect(schema.parse(204)).toEqual([[204, 204]]);
    expect(schema.parse([200, 399])).toEqual([[200, 399]]);
    expect(schema.parse([200, 204, 206])).toEqual([
      [200, 200],
      [204, 204],
      [206, 206],
    ]);
    expect(schema.parse([200, [300, 302]])).toEqual([
      [200, 200],
      [300, 302],
    ]);
    expect(schema.parse([[200, 299]])).toEqual([[200, 299]]);
  });

  it('refuses statuses outside 100-599, ranges upside down and empty lists', () => {
    const schema = statusSet();
    for (const bad of [99, 600, 200.5, [300, 200], [], [200, [5, 700]], '200', [200, [302, 301]]]) {
      expect(schema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('statusMatcher', () => {
  it('matches exactly the statuses in the ranges', () => {
    const matches = statusMatcher([
      [200, 204],
      [304, 304],
    ]);
    expect([199, 200, 204, 205, 304, 305, 0, 599].map(matches)).toEqual([
      false,
      true,
      true,
      false,
      true,
      false,
      false,
      false,
    ]);
  });
});
