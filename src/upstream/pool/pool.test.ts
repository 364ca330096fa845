import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Backend } from '../../core/backend.js';
import type { Strategy } from '../../core/strategy.js';
import { roundRobin } from '../strategies/round-robin.js';
import { Pool } from './pool.js';

function makePool(ids: string[], panicThreshold = 50) {
  let time = 0;
  const pool = new Pool(roundRobin() as Strategy<Backend>, () => time);
  pool.panicThreshold = panicThreshold;
  const backends = ids.map(
    (id) =>
      new Backend({ id, url: new URL(`http://${id}.test`), weight: 1, maxConnections: Infinity, agent: new Agent() }),
  );
  for (const b of backends) pool.add(b);
  return { pool, backends, at: (t: number) => (time = t) };
}

const ids = (list: readonly Backend[]) => list.map((b) => b.id);

describe('Pool panic threshold', () => {
  it('offers only available backends while at least panicThreshold percent are available', () => {
    const { pool, backends } = makePool(['a', 'b', 'c', 'd']);
    pool.mark(backends[0]!, { unhealthy: true });
    pool.mark(backends[1]!, { ejectedUntil: 1000 });
    pool.changed();
    expect(ids(pool.candidates(new Set()))).toEqual(['c', 'd']);
    expect(pool.panic).toBe(false);
  });

  it('offers every member without an open breaker below the threshold', () => {
    const { pool, backends } = makePool(['a', 'b', 'c', 'd']);
    pool.mark(backends[0]!, { unhealthy: true });
    pool.mark(backends[1]!, { ejectedUntil: 1000 });
    pool.mark(backends[2]!, { breakerOpen: true });
    pool.changed();
    expect(pool.panic).toBe(true);
    expect(ids(pool.candidates(new Set()))).toEqual(['a', 'b', 'd']);
  });

  it('never offers draining backends, in panic or not', () => {
    const { pool, backends } = makePool(['a', 'b', 'c']);
    pool.mark(backends[0]!, { draining: true });
    pool.changed(true);
    pool.mark(backends[1]!, { unhealthy: true });
    pool.mark(backends[2]!, { unhealthy: true });
    pool.changed();
    expect(ids(pool.candidates(new Set()))).toEqual(['b', 'c']);
  });

  it('is off at 0, and leaves the pool empty when nothing is available', () => {
    const { pool, backends } = makePool(['a', 'b'], 0);
    for (const b of backends) pool.mark(b, { unhealthy: true });
    pool.changed();
    expect(pool.panic).toBe(false);
    expect(pool.candidates(new Set())).toEqual([]);
  });

  it('leaves panic when an ejection expires, without a changed() call', () => {
    const { pool, backends, at } = makePool(['a', 'b', 'c']);
    pool.mark(backends[0]!, { ejectedUntil: 100 });
    pool.mark(backends[1]!, { ejectedUntil: 200 });
    pool.changed();
    expect(pool.panic).toBe(true);
    at(150);
    expect(pool.panic).toBe(false);
    expect(ids(pool.candidates(new Set()))).toEqual(['a', 'c']);
  });

  it('hands out the same cached array on the common path, in panic too', () => {
    const { pool, backends } = makePool(['a', 'b', 'c', 'd']);
    const none = new Set<Backend>();
    expect(pool.candidates(none)).toBe(pool.candidates(none));
    for (const b of backends.slice(0, 3)) pool.mark(b, { unhealthy: true });
    pool.changed();
    const panicList = pool.candidates(none);
    expect(panicList).toHaveLength(4);
    expect(pool.candidates(none)).toBe(panicList);
  });
});
