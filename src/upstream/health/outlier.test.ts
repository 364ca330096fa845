import { Agent } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backend } from '../../core/backend.js';
import { Events, type SwitchyardEvents } from '../../core/events.js';
import type { Strategy } from '../../core/strategy.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { Pool } from '../pool/pool.js';
import { roundRobin } from '../strategies/round-robin.js';
import { outlierDetectionSchema } from './options.js';
import { OutlierDetector } from './outlier.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function world(options: object = {}, count = 4) {
  const now = () => Date.now();
  const pool = new Pool(roundRobin() as Strategy<Backend>, now);
  const events = new Events();
  const backends = Array.from(
    { length: count },
    (_, i) =>
      new Backend({
        id: `b${i}`,
        url: new URL(`http://b${i}.test`),
        weight: 1,
        maxConnections: Infinity,
        agent: new Agent(),
      }),
  );
  for (const b of backends) pool.add(b);
  const detector = new OutlierDetector({ pool, events, now });
  detector.configure(outlierDetectionSchema.parse({ maxEjectionPercent: 100, ...options }));
  const ejected: SwitchyardEvents['backend:ejected'][] = [];
  const restored: string[] = [];
  events.on('backend:ejected', (e) => ejected.push(e));
  events.on('backend:restored', (e) => restored.push(e.backend.id));
  return { pool, detector, backends, ejected, restored };
}

const refused = new UpstreamError('ERR_UPSTREAM_CONNECT', 'refused', 'b0', 'connect-failure', false);

describe('OutlierDetector', () => {
  it('ejects on the fifth consecutive 5xx, not before', () => {
    const w = world();
    const b = w.backends[0]!;
    for (let i = 0; i < 4; i++) w.detector.response(b, 502);
    expect(w.ejected).toEqual([]);
    w.detector.response(b, 500);
    expect(w.ejected.map((e) => [e.backend.id, e.reason, e.durationMs])).toEqual([['b0', 'consecutive-5xx', 30_000]]);
    expect(b.ejectedUntil).toBe(Date.now() + 30_000);
    expect(w.pool.candidates(new Set()).includes(b)).toBe(false);
  });

  it('counts failures without an answer towards both rules, and names the connect rule', () => {
    const w = world({ consecutiveConnectFailure: 3, consecutive5xx: 4 });
    const b = w.backends[0]!;
    w.detector.response(b, 503);
    w.detector.failure(b, refused);
    w.detector.failure(b, refused);
    // Three towards 5xx so far, two connect failures: the next one trips the connect rule first.
    w.detector.failure(b, refused);
    expect(w.ejected.map((e) => e.reason)).toEqual(['consecutive-connect-failure']);
  });

  it('resets the connect count on any answer, even a 5xx', () => {
    const w = world({ consecutiveConnectFailure: 2, consecutive5xx: false });
    const b = w.backends[0]!;
    w.detector.failure(b, refused);
    w.detector.response(b, 500);
    w.detector.failure(b, refused);
    expect(w.ejected).toEqual([]);
    w.detector.failure(b, refused);
    expect(w.ejected).toHaveLength(1);
  });

  it('restores on a timer, resets counts and restarts slow start', () => {
    const w = world({ consecutive5xx: 1, baseEjectionTime: 500 });
    const b = w.backends[0]!;
    w.detector.response(b, 500);
    vi.advanceTimersByTime(500);
    expect(w.restored).toEqual(['b0']);
    expect(b.ejectedUntil).toBe(0);
    expect(b.warmingSince).toBe(Date.now());
    expect(b.status).toBe('healthy');
  });

  it('ignores outcomes of a backend already ejected, and of draining ones', () => {
    const w = world({ consecutive5xx: 1 });
    const [b0, b1] = w.backends;
    w.detector.response(b0!, 500);
    w.detector.response(b0!, 500);
    w.pool.mark(b1!, { draining: true });
    w.detector.response(b1!, 500);
    expect(w.ejected.map((e) => e.backend.id)).toEqual(['b0']);
  });

  it('computes the cap on the current pool, allowing one ejection at any size', () => {
    const w = world({ consecutive5xx: 1, maxEjectionPercent: 0 }, 3);
    for (const b of w.backends) w.detector.response(b, 500);
    expect(w.ejected.map((e) => e.backend.id)).toEqual(['b0']);
  });

  it('does not count an ejected backend that health checks took out too against the cap', () => {
    // A killed backend is ejected and unhealthy; a second backend failing now must not be blocked by it.
    const w = world({ consecutive5xx: 1, maxEjectionPercent: 10 });
    const [killed, failing, third] = w.backends;
    w.detector.failure(killed!, refused);
    w.pool.mark(killed!, { unhealthy: true });
    w.detector.response(failing!, 500);
    expect(w.ejected.map((e) => e.backend.id)).toEqual(['b0', 'b1']);
    // b1 is in service per its checks: it holds the one slot now.
    w.detector.response(third!, 500);
    expect(w.ejected.map((e) => e.backend.id)).toEqual(['b0', 'b1']);
  });

  it('ends an ejection when a health check that started after it passes', () => {
    const w = world({ consecutive5xx: 1 });
    const b = w.backends[0]!;
    const before = Date.now();
    vi.advanceTimersByTime(10);
    w.detector.response(b, 500);
    // A check sent before the ejection says nothing about the backend since.
    w.detector.checkPassed(b, before);
    expect(w.restored).toEqual([]);
    vi.advanceTimersByTime(250);
    w.detector.checkPassed(b, Date.now());
    expect(w.restored).toEqual(['b0']);
    expect(b.ejectedUntil).toBe(0);
    expect(w.pool.candidates(new Set()).includes(b)).toBe(true);
    // The restore timer went with the ejection; the multiplier stays for the next one.
    expect(vi.getTimerCount()).toBe(0);
    expect(w.detector.ejections(b)).toBe(1);
    w.detector.checkPassed(b, Date.now());
    expect(w.restored).toEqual(['b0']);
  });

  it('keeps the ejection on a passing check with unejectOnPassingCheck off', () => {
    const w = world({ consecutive5xx: 1, unejectOnPassingCheck: false });
    const b = w.backends[0]!;
    w.detector.response(b, 500);
    vi.advanceTimersByTime(250);
    w.detector.checkPassed(b, Date.now());
    expect(w.restored).toEqual([]);
    expect(b.ejectedUntil).toBeGreaterThan(Date.now());
  });

  it('forgets a removed backend and stops its timer', () => {
    const w = world({ consecutive5xx: 1 });
    const b = w.backends[0]!;
    w.detector.response(b, 500);
    w.detector.remove(b);
    vi.advanceTimersByTime(60_000);
    expect(w.restored).toEqual([]);
    expect(w.detector.ejections(b)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does nothing once turned off, after restoring the ejected', () => {
    const w = world({ consecutive5xx: 1 });
    w.detector.response(w.backends[0]!, 500);
    w.detector.configure(false);
    expect(w.restored).toEqual(['b0']);
    w.detector.response(w.backends[1]!, 500);
    expect(w.ejected).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
