import { createRequire } from 'node:module';
import CircuitBreaker from 'opossum';
import { describe, expect, it } from 'vitest';
import { canReplay, OPOSSUM_VERSION, replayFire, replaySettle } from './opossum.js';

const { version } = createRequire(import.meta.url)('opossum/package.json') as { version: string };

const FILTERED = new Error('filtered: not a failure');
type Outcome = 'ok' | 'fail' | 'filtered';

function breaker(): CircuitBreaker<[Outcome], void> {
  return new CircuitBreaker<[Outcome], void>(
    async (outcome: Outcome) => {
      if (outcome === 'fail') throw new Error('failed');
      if (outcome === 'filtered') throw FILTERED;
    },
    { timeout: false, volumeThreshold: 4, errorThresholdPercentage: 50, errorFilter: (e) => e === FILTERED },
  );
}

/** The events and counts a breaker goes through, after each call's start and end. */
function recorder(b: CircuitBreaker<[Outcome], void>) {
  const log: string[] = [];
  b.on('fire', () => log.push('fire'));
  b.on('success', () => log.push('success'));
  b.on('failure', () => log.push('failure'));
  b.on('open', () => log.push('open'));
  const snap = (at: string) => {
    const s = b.stats;
    log.push(`${at} fires=${s.fires} successes=${s.successes} failures=${s.failures} opened=${b.opened}`);
  };
  return { log, snap };
}

describe('opossum internals (pinned)', () => {
  it('is the version src/vendor/opossum.ts was written against', () => {
    expect(version).toBe(OPOSSUM_VERSION);
  });

  it("replays fire()'s accounting: same events in the same order, same counts, opens at the same call", async () => {
    const outcomes: Outcome[] = ['ok', 'filtered', 'fail', 'ok', 'fail', 'fail', 'fail'];
    const fired = breaker();
    const replayed = breaker();
    const a = recorder(fired);
    const b = recorder(replayed);
    for (const outcome of outcomes) {
      if (!fired.closed) break;
      expect(canReplay(replayed)).toBe(true);
      const call = fired.fire(outcome).catch(() => {});
      a.snap('started');
      await call;
      a.snap('ended');

      replayFire(replayed);
      b.snap('started');
      const error = outcome === 'ok' ? undefined : outcome === 'fail' ? new Error('failed') : FILTERED;
      replaySettle(replayed, error, outcome === 'fail', Date.now(), 50);
      b.snap('ended');
    }
    expect(fired.opened).toBe(true);
    expect(b.log).toEqual(a.log);
    expect(canReplay(replayed)).toBe(false);
    fired.shutdown();
    replayed.shutdown();
  });

  it('may replay only a closed, enabled breaker', () => {
    const b = breaker();
    expect(canReplay(b)).toBe(true);
    b.disable();
    expect(canReplay(b)).toBe(false);
    b.enable();
    b.open();
    expect(canReplay(b)).toBe(false);
    b.shutdown();
  });
});
