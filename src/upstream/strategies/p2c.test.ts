import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { p2c } from './p2c.js';
import { seededRandom } from './random.js';

interface SimBackend extends Candidate {
  active: number;
  effectiveWeight: number;
}

const req = { headers: {} } as IncomingMessage;
const ctxAt = (now: number): SelectionContext => ({ req, clientAddress: '10.0.0.1', now, attempt: 1 });
const backend = (id: string, weight = 1): SimBackend => ({ id, weight, effectiveWeight: weight, active: 0 });

interface Behaviour {
  latency(b: SimBackend, now: number): number;
  ok?(b: SimBackend, now: number): boolean;
}

/**
 * Open-loop simulation on a fake millisecond clock: `perMs` requests arrive
 * each millisecond, each goes where the strategy says, stays in flight for the
 * backend's latency, then is reported through `observe`. Returns the picks per
 * backend in each window of `windowMs`.
 */
function simulate(
  strategy: Strategy<SimBackend>,
  backends: SimBackend[],
  behaviour: Behaviour,
  { durationMs, perMs = 2, windowMs = 1000 }: { durationMs: number; perMs?: number; windowMs?: number },
): Map<string, number>[] {
  strategy.update?.(backends);
  const pending = new Map<number, { b: SimBackend; latency: number; ok: boolean }[]>();
  const windows: Map<string, number>[] = [];
  for (let now = 0; now < durationMs; now++) {
    for (const done of pending.get(now) ?? []) {
      done.b.active--;
      strategy.observe?.(done.b, { latencyMs: done.latency, ok: done.ok, now });
    }
    pending.delete(now);
    const w = Math.floor(now / windowMs);
    windows[w] ??= new Map(backends.map((b) => [b.id, 0]));
    for (let r = 0; r < perMs; r++) {
      const b = strategy.pick(backends, ctxAt(now))!;
      b.active++;
      windows[w].set(b.id, windows[w].get(b.id)! + 1);
      const latency = Math.max(1, Math.round(behaviour.latency(b, now)));
      const ok = behaviour.ok?.(b, now) ?? true;
      const at = now + latency;
      const list = pending.get(at);
      if (list) list.push({ b, latency, ok });
      else pending.set(at, [{ b, latency, ok }]);
    }
  }
  return windows;
}

const share = (window: Map<string, number>, id: string): number =>
  window.get(id)! / [...window.values()].reduce((a, b) => a + b, 0);

describe('p2c', () => {
  it('shares 5 identical backends evenly: each gets 1/5 of 20k requests within 10% relative (measured 0.6%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(p2c({ random: seededRandom(1) }), all, { latency: () => 10 }, { durationMs: 10_000 });
    const total = new Map<string, number>();
    for (const w of windows) for (const [id, n] of w) total.set(id, (total.get(id) ?? 0) + n);
    for (const n of total.values()) expect(Math.abs(n / 20_000 - 0.2) / 0.2).toBeLessThan(0.1);
  });

  it('moves traffic off a backend that turns slow within 1 s of simulated time (share < 2%, fair is 20%; measured 0.4%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(2) }),
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 5_000 ? 300 : 10) },
      { durationMs: 10_000 },
    );
    expect(share(windows[4]!, 'c')).toBeGreaterThan(0.15); // before: its fair share
    for (const w of windows.slice(5)) expect(share(w, 'c')).toBeLessThan(0.02);
  });

  it('avoids a backend that fails fast: failures count as slow (share < 1% from the first second on; measured 0.7%, then 0)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(3) }),
      all,
      { latency: (b) => (b.id === 'e' ? 1 : 20), ok: (b) => b.id !== 'e' },
      { durationMs: 5_000 },
    );
    for (const w of windows) expect(share(w, 'e')).toBeLessThan(0.01);
  });

  it('sends traffic back to a backend that recovered: a share > 10% within 30 s (measured 15.5%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(4) }),
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 2_000 && now < 10_000 ? 300 : 10) },
      { durationMs: 45_000 },
    );
    expect(share(windows[9]!, 'c')).toBeLessThan(0.03);
    expect(share(windows[40]!, 'c')).toBeGreaterThan(0.1);
  });

  it('gives a new backend one probe at a time until its first response', () => {
    const strategy = p2c({ random: seededRandom(5) });
    const a = backend('a');
    const fresh = backend('fresh');
    strategy.update?.([a, fresh]);
    strategy.observe?.(a, { latencyMs: 50, ok: true, now: 0 });
    a.active = 10;
    expect(strategy.pick([a, fresh], ctxAt(1))).toBe(fresh); // no history, nothing pending: cost 0
    fresh.active = 1;
    expect(strategy.pick([a, fresh], ctxAt(2))).toBe(a); // no history, one pending: penalty
  });

  it('takes a slow sample at once (peak) and decays toward faster ones with tau', () => {
    const strategy = p2c({ decay: 1000, random: seededRandom(6) });
    const a = backend('a');
    const b = backend('b');
    strategy.update?.([a, b]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 15, ok: true, now: 0 });
    expect(strategy.pick([a, b], ctxAt(0))).toBe(a);
    strategy.observe?.(a, { latencyMs: 100, ok: true, now: 10 }); // peak: cost 100 at once
    expect(strategy.pick([a, b], ctxAt(10))).toBe(b);
    // Fast samples again: after a few tau the 100 ms peak is forgotten.
    for (let t = 20; t <= 5_000; t += 10) strategy.observe?.(a, { latencyMs: 10, ok: true, now: t });
    strategy.observe?.(b, { latencyMs: 15, ok: true, now: 5_000 });
    expect(strategy.pick([a, b], ctxAt(5_000))).toBe(a);
  });

  it('divides load by effectiveWeight', () => {
    const strategy = p2c({ random: seededRandom(7) });
    const a = backend('a', 1);
    const b = backend('b', 4);
    strategy.update?.([a, b]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 10, ok: true, now: 0 });
    a.active = 1;
    b.active = 3; // 10·2/1 = 20 vs 10·4/4 = 10
    expect(strategy.pick([a, b], ctxAt(0))).toBe(b);
  });

  it('rejects a decay of 0 with a ConfigError naming the option', () => {
    expect(() => p2c({ decay: 0 })).toThrow(ConfigError);
    expect(() => p2c({ decay: 0 })).toThrow(/strategy\.decay/);
  });
});
