import type { EventName, LoadBalancer } from '../src/index.js';

/**
 * Resolves with the ms until `done()` holds, checked now and again on each
 * of `events` from any of `lbs` (after `change()` ran); rejects past `ms`
 * with `describe()` in the message. Event-driven: no polling.
 */
export function waitUntil(
  lbs: readonly LoadBalancer[],
  events: readonly EventName[],
  done: () => boolean,
  options: { ms: number; change?: () => unknown; describe?: () => string },
): Promise<number> {
  const started = performance.now();
  return new Promise<number>((resolve, reject) => {
    const check = () => {
      if (!done()) return;
      cleanup();
      resolve(performance.now() - started);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`condition not met within ${options.ms} ms: ${options.describe?.() ?? ''}`));
    }, options.ms);
    function cleanup() {
      clearTimeout(timer);
      for (const lb of lbs) for (const name of events) lb.off(name, check);
    }
    for (const lb of lbs) for (const name of events) lb.on(name, check);
    options.change?.();
    check();
  });
}
