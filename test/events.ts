import type { EventName, LoadBalancer, SwitchyardEvents } from '../src/index.js';

/** Collects every payload of `event` from now on. */
export function record<E extends EventName>(lb: LoadBalancer, event: E): SwitchyardEvents[E][] {
  const seen: SwitchyardEvents[E][] = [];
  lb.on(event, (payload) => seen.push(payload));
  return seen;
}

/** Resolves with the next `count` payloads of `event` that match `filter`. */
export function next<E extends EventName>(
  lb: LoadBalancer,
  event: E,
  filter: (payload: SwitchyardEvents[E]) => boolean = () => true,
  count = 1,
): Promise<SwitchyardEvents[E][]> {
  return new Promise((resolve) => {
    const seen: SwitchyardEvents[E][] = [];
    const listener = (payload: SwitchyardEvents[E]) => {
      if (!filter(payload)) return;
      seen.push(payload);
      if (seen.length < count) return;
      lb.off(event, listener);
      resolve(seen);
    };
    lb.on(event, listener);
  });
}

/** Fake clocks for timers and the balancer's `performance.now` and `Date`; real I/O. */
export const FAKE_TIMERS = [
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'performance',
  'Date',
] as const;
