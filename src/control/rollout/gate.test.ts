import { describe, expect, it } from 'vitest';
import type { BackendStatus } from '../../core/backend.js';
import { type GateBackend, GateWindow, percentile } from './gate.js';

function fake(id: string): GateBackend & { requests: number; active: number; failures: number; status: BackendStatus } {
  return { id, requests: 0, active: 0, failures: 0, status: 'healthy' };
}

const gate = { maxErrorRate: 0.1, minRequests: 10, lowTraffic: 'fail', trafficWait: 0 } as const;

describe('GateWindow', () => {
  it('counts only what happens after the window opens', () => {
    const c = fake('c');
    c.requests = 50;
    c.failures = 40;
    const window = new GateWindow([c], [c], gate);
    c.requests += 10;
    c.failures += 1;
    expect(window.stats()).toMatchObject({ requests: 10, failures: 1, errorRate: 0.1 });
    expect(window.verdict(true)).toEqual({ state: 'pass' });
  });

  it('fails early once minRequests attempts show too many errors, not before', () => {
    const c = fake('c');
    const window = new GateWindow([c], [c], gate);
    c.requests = 9;
    c.failures = 9;
    expect(window.verdict(false)).toEqual({ state: 'pending' });
    c.requests = 10;
    expect(window.verdict(false)).toEqual({ state: 'fail', reason: 'error rate 0.9 above 0.1 (9 of 10 attempts)' });
  });

  it('counts attempts in flight as not yet finished', () => {
    const c = fake('c');
    const window = new GateWindow([c], [c], gate);
    c.requests = 12;
    c.active = 3;
    expect(window.stats().requests).toBe(9);
    expect(window.verdict(true)).toMatchObject({
      state: 'fail',
      reason: expect.stringMatching(/insufficient traffic/),
    });
  });

  it('fails when any watched backend turns sick or leaves', () => {
    const old = fake('c');
    const batch = fake('d');
    const window = new GateWindow([batch], [old, batch], { ...gate, minRequests: 0 });
    old.status = 'ejected';
    expect(window.verdict(false)).toEqual({ state: 'fail', reason: 'backend c is ejected' });
    old.status = 'draining';
    expect(window.verdict(false)).toEqual({ state: 'fail', reason: 'backend c was removed during the rollout' });
  });

  it('checks the p99 latency at the end of the window', () => {
    const c = fake('c');
    const window = new GateWindow([c], [c], { ...gate, minRequests: 0, maxLatencyMs: 100 });
    for (let i = 0; i < 99; i++) window.latency(10);
    window.latency(500);
    expect(window.verdict(true)).toEqual({ state: 'pass' });
    window.latency(500);
    expect(window.stats().p99LatencyMs).toBe(500);
    expect(window.verdict(false)).toEqual({ state: 'pending' });
    expect(window.verdict(true)).toEqual({ state: 'fail', reason: 'p99 latency 500 ms above 100 ms' });
  });
});

describe('percentile', () => {
  it('takes the nearest rank', () => {
    expect(percentile([], 0.99)).toBeUndefined();
    expect(percentile([3, 1, 2], 0.5)).toBe(2);
    expect(percentile([3, 1, 2], 0.99)).toBe(3);
    expect(percentile([7], 0.01)).toBe(7);
  });
});
