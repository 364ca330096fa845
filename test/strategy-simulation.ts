import type { IncomingMessage } from 'node:http';
import type { Candidate, SelectionContext, Strategy } from '../src/core/strategy.js';

// The strategy tests' open-loop simulation (p2c, least-response-time).

export interface SimBackend extends Candidate {
  active: number;
  effectiveWeight: number;
}

const req = { headers: {} } as IncomingMessage;
export const ctxAt = (now: number): SelectionContext => ({ req, clientAddress: '10.0.0.1', now, attempt: 1 });
export const backend = (id: string, weight = 1): SimBackend => ({ id, weight, effectiveWeight: weight, active: 0 });

export interface Behaviour {
  latency(b: SimBackend, now: number): number;
  ok?(b: SimBackend, now: number): boolean;
}

/**
 * Open-loop simulation on a fake millisecond clock: `perMs` requests arrive
 * each millisecond, each goes where the strategy says, stays in flight for the
 * backend's latency, then is reported through `observe`. Returns the picks per
 * backend in each window of `windowMs`.
 */
export function simulate(
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

export const share = (window: Map<string, number>, id: string): number =>
  window.get(id)! / [...window.values()].reduce((a, b) => a + b, 0);
