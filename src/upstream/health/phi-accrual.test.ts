import { describe, expect, it } from 'vitest';
import { PhiAccrualDetector, phi } from './phi-accrual.js';

// Upper tail of the standard normal, 1 - Φ(y), from tables.
const TAIL: ReadonlyArray<[number, number]> = [
  [0, 0.5],
  [1, 0.158655],
  [2, 0.0227501],
  [3, 0.0013499],
  [4, 3.16712e-5],
  [5, 2.86652e-7],
  [-1, 0.841345],
  [-3, 0.9986501],
];

function beats(detector: PhiAccrualDetector, every: number, count: number, start = 0): number {
  let t = start;
  for (let i = 0; i < count; i++, t += every) detector.heartbeat(t);
  return t - every;
}

describe('phi', () => {
  it('follows -log10(1 - Φ(y)) of the normal distribution closely', () => {
    for (const [y, tail] of TAIL) {
      const expected = -Math.log10(tail);
      expect(Math.abs(phi(1000 + y * 100, 1000, 100) - expected), `y=${y}`).toBeLessThan(1e-4 * expected + 1e-6);
    }
  });

  it('matches the asymptotic tail ten and forty standard deviations out', () => {
    // ln Q(y) ≈ -y²/2 - ln(y·√(2π)) - 1/y² for large y.
    for (const y of [10, 40]) {
      const lnTail = (-y * y) / 2 - Math.log(y * Math.sqrt(2 * Math.PI)) - 1 / (y * y);
      expect(phi(y, 0, 1)).toBeCloseTo(-lnTail / Math.LN10, 3);
    }
  });

  it('is log10(2) on the mean', () => {
    expect(phi(500, 500, 50)).toBeCloseTo(Math.log10(2), 6);
  });

  it('stays finite and increasing far into the tail, and near 0 well before the mean', () => {
    const far = phi(100_000, 1000, 100);
    expect(Number.isFinite(far)).toBe(true);
    expect(phi(200_000, 1000, 100)).toBeGreaterThan(far);
    expect(phi(0, 100_000, 100)).toBeGreaterThanOrEqual(0);
    expect(phi(0, 100_000, 100)).toBeLessThan(1e-9);
  });
});

describe('PhiAccrualDetector', () => {
  it('reports no suspicion before the first heartbeat', () => {
    const detector = new PhiAccrualDetector();
    expect(detector.suspicion(1e9)).toBe(0);
    expect(detector.isAvailable(1e9)).toBe(true);
  });

  it('seeds its history from firstHeartbeatEstimate, so one heartbeat suffices', () => {
    const detector = new PhiAccrualDetector({ firstHeartbeatEstimate: 1000, acceptablePause: 0 });
    detector.heartbeat(0);
    expect(detector.samples).toBe(2);
    expect(detector.suspicion(1000)).toBeCloseTo(Math.log10(2), 5);
    expect(detector.isAvailable(1000)).toBe(true);
    // std is 250 ms (estimate / 4): 3 s late is 12 standard deviations.
    expect(detector.isAvailable(4000)).toBe(false);
  });

  it('stays low while heartbeats arrive on time and crosses the threshold when they stop', () => {
    const detector = new PhiAccrualDetector({ threshold: 8, acceptablePause: 0, firstHeartbeatEstimate: 1000 });
    const last = beats(detector, 1000, 50);
    expect(detector.suspicion(last + 1000)).toBeLessThan(1);
    const values = [1500, 2000, 3000].map((gap) => detector.suspicion(last + gap));
    expect(values[0]).toBeLessThan(values[1]!);
    expect(values[1]).toBeLessThan(values[2]!);
    expect(detector.isAvailable(last + 1100)).toBe(true);
    expect(detector.isAvailable(last + 3000)).toBe(false);
  });

  it('tolerates acceptablePause on top of the mean interval', () => {
    const strict = new PhiAccrualDetector({ acceptablePause: 0, firstHeartbeatEstimate: 1000 });
    const lenient = new PhiAccrualDetector({ acceptablePause: 3000, firstHeartbeatEstimate: 1000 });
    const last = beats(strict, 1000, 20);
    beats(lenient, 1000, 20);
    expect(strict.isAvailable(last + 3500)).toBe(false);
    expect(lenient.isAvailable(last + 3500)).toBe(true);
    expect(lenient.isAvailable(last + 6000)).toBe(false);
  });

  it('floors the standard deviation at minStdDeviation', () => {
    // Perfectly regular heartbeats: std is 0 apart from the seed, so the floor decides.
    const tight = new PhiAccrualDetector({ minStdDeviation: 10, acceptablePause: 0, maxSampleSize: 10 });
    const loose = new PhiAccrualDetector({ minStdDeviation: 500, acceptablePause: 0, maxSampleSize: 10 });
    const last = beats(tight, 1000, 30);
    beats(loose, 1000, 30);
    expect(tight.suspicion(last + 1200)).toBeGreaterThan(8);
    expect(loose.suspicion(last + 1200)).toBeLessThan(1);
  });

  it('keeps at most maxSampleSize intervals, forgetting the oldest', () => {
    const detector = new PhiAccrualDetector({ maxSampleSize: 5, acceptablePause: 0, minStdDeviation: 1 });
    let t = beats(detector, 100, 20);
    expect(detector.samples).toBe(5);
    // The old 100 ms rhythm is forgotten once five 1 s intervals have replaced it.
    for (let i = 0; i < 5; i++) {
      t += 1000;
      detector.heartbeat(t);
    }
    expect(detector.suspicion(t + 1000)).toBeCloseTo(Math.log10(2), 5);
  });

  it('forgets everything on reset', () => {
    const detector = new PhiAccrualDetector();
    beats(detector, 1000, 10);
    detector.reset();
    expect(detector.samples).toBe(0);
    expect(detector.suspicion(1e9)).toBe(0);
  });

  it('rejects nonsensical options', () => {
    expect(() => new PhiAccrualDetector({ threshold: 0 })).toThrow(RangeError);
    expect(() => new PhiAccrualDetector({ maxSampleSize: 0 })).toThrow(RangeError);
    expect(() => new PhiAccrualDetector({ minStdDeviation: 0 })).toThrow(RangeError);
    expect(() => new PhiAccrualDetector({ acceptablePause: -1 })).toThrow(RangeError);
    expect(() => new PhiAccrualDetector({ firstHeartbeatEstimate: 0 })).toThrow(RangeError);
  });
});
