import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { leastResponseTime } from './least-response-time.js';
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

describe('leastResponseTime', () => {
  it('shares 5 identical backends evenly: each gets 1/5 of 20k requests within 10% relative (measured exact)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(1) });
    const windows = simulate(strategy, all, { latency: () => 10 }, { durationMs: 10_000 });
    const total = new Map<string, number>();
    for (const w of windows) for (const [id, n] of w) total.set(id, (total.get(id) ?? 0) + n);
    for (const n of total.values()) expect(Math.abs(n / 20_000 - 0.2) / 0.2).toBeLessThan(0.1);
  });

  it('sends a backend 30x slower than the rest less than 2% of traffic within 1 s (fair is 20%; measured 0.45%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(2) });
    const windows = simulate(
      strategy,
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 5_000 ? 300 : 10) },
      { durationMs: 10_000 },
    );
    expect(share(windows[4]!, 'c')).toBeGreaterThan(0.15);
    for (const w of windows.slice(5)) expect(share(w, 'c')).toBeLessThan(0.02);
  });

  it('avoids a backend that fails fast (share < 2% after the first second; measured 0)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(3) });
    const windows = simulate(
      strategy,
      all,
      { latency: (b) => (b.id === 'e' ? 1 : 20), ok: (b) => b.id !== 'e' },
      { durationMs: 5_000 },
    );
    for (const w of windows.slice(1)) expect(share(w, 'e')).toBeLessThan(0.02);
  });

  it('assumes a backend without samples is as fast as the average of the others', () => {
    const strategy = leastResponseTime({ random: seededRandom(4) });
    const a = backend('a');
    const b = backend('b');
    const fresh = backend('fresh');
    strategy.update?.([a, b, fresh]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 30, ok: true, now: 0 });
    // fresh is guessed at 20 ms: 20·(2+1) = 60 loses to a at 10·(1+1) = 20 ...
    fresh.active = 2;
    a.active = 1;
    expect(strategy.pick([a, b, fresh], ctxAt(1))).toBe(a);
    // ... and 20·1 beats b at 30·1 and a at 10·(2+1).
    fresh.active = 0;
    a.active = 2;
    expect(strategy.pick([a, b, fresh], ctxAt(1))).toBe(fresh);
  });

  it('behaves as least connections before any sample, ties broken at random', () => {
    const strategy = leastResponseTime({ random: seededRandom(5) });
    const all = [backend('a'), backend('b'), backend('c')];
    all[0]!.active = 1;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(strategy.pick(all, ctxAt(0))!.id);
    expect([...seen].sort()).toEqual(['b', 'c']);
  });
});
