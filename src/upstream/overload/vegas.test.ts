import { describe, expect, it } from 'vitest';
import { VegasLimiter } from './vegas.js';

// Probe jitter of 1: the no-load RTT is re-probed every probeMultiplier·limit samples.
const opts = { initialLimit: 20, minLimit: 1, maxLimit: 1000, random: () => 1 };

describe('VegasLimiter', () => {
  it('grows by 6·log10(limit) per sample while RTT stays at the no-load RTT', () => {
    const limiter = new VegasLimiter(opts);
    limiter.update(10, 20, false); // first sample: sets the no-load RTT
    expect(limiter.noLoadRtt).toBe(10);
    limiter.update(10, 20, false);
    expect(limiter.limit).toBe(26);
    for (let i = 0; i < 10; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    expect(limiter.limit).toBeGreaterThan(80);
  });

  it('falls when RTT rises far above the no-load RTT', () => {
    const limiter = new VegasLimiter(opts);
    limiter.update(10, 20, false);
    for (let i = 0; i < 10; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    const before = limiter.limit;
    for (let rtt = 20; rtt <= 60; rtt += 2) limiter.update(rtt, Math.ceil(limiter.limit), false);
    expect(limiter.limit).toBeLessThan(before);
  });

  it('shrinks on a timeout even when not busy', () => {
    const limiter = new VegasLimiter(opts);
    limiter.update(10, 1, false);
    limiter.update(5000, 1, true);
    expect(limiter.limit).toBe(19);
  });

  it('does not grow while fewer than half the limit are in flight', () => {
    const limiter = new VegasLimiter(opts);
    limiter.update(10, 2, false);
    for (let i = 0; i < 10; i++) limiter.update(10, 2, false);
    expect(limiter.limit).toBe(20);
  });

  it('re-probes the no-load RTT so a new baseline is learnt', () => {
    const limiter = new VegasLimiter({ ...opts, initialLimit: 2, maxLimit: 2, probeMultiplier: 2 });
    limiter.update(10, 2, false);
    for (let i = 0; i < 6; i++) limiter.update(30, 2, false);
    expect(limiter.noLoadRtt).toBe(30);
  });
});
