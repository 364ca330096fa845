import { afterEach, describe, expect, it } from 'vitest';
import { type Fixture, setup } from './fixture.js';
import { request } from './helpers.js';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe('slow start', () => {
  it('ramps a newly added backend from the floor to its full weight over the window', async () => {
    let clock = 1_000;
    fx = await setup(['a'], {
      strategy: 'weighted-round-robin',
      slowStart: { window: '10s', minWeightPercent: 10 },
      now: () => clock,
    });
    const { createMemoryBackend } = await import('../src/testing/index.js');
    const b = createMemoryBackend({ id: 'b' });
    try {
      fx.lb.addBackend(b.config);
      const share = async (n: number) => {
        let toB = 0;
        for (let i = 0; i < n; i++)
          if ((await request(fx!.front.port)).json<{ backend: string }>().backend === 'b') toB++;
        return toB / n;
      };
      // t = 0: b has 10% of its weight: 0.1 / 1.1 of the traffic.
      expect(fx.lb.backends().find((x) => x.id === 'b')?.effectiveWeight).toBeCloseTo(0.1);
      expect(await share(110)).toBeCloseTo(0.1 / 1.1, 1);
      clock += 5_000; // halfway: weight 0.5
      expect(fx.lb.backends().find((x) => x.id === 'b')?.effectiveWeight).toBeCloseTo(0.5);
      expect(await share(90)).toBeCloseTo(0.5 / 1.5, 1);
      clock += 5_000; // window over: equal weights
      expect(fx.lb.backends().find((x) => x.id === 'b')?.effectiveWeight).toBe(1);
      expect(await share(100)).toBeCloseTo(0.5, 1);
    } finally {
      await b.close();
    }
  });

  it('leaves backends present at build time at full weight', async () => {
    fx = await setup(['a', 'b'], { slowStart: { window: '10s' }, now: () => 5 });
    expect(fx.lb.backends().map((b) => b.effectiveWeight)).toEqual([1, 1]);
  });
});
