import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineList, type Due } from './deadline-list.js';

interface Job extends Due {
  name: string;
}

function job(name: string): Job {
  return { name, dueAt: 0, dueNext: undefined, duePrev: undefined, dueList: undefined };
}

/** Fake timers (the clock too, unless `clock` is false) and a list of `ms` that records what fires. */
function recording(ms: number, clock = true): { fired: string[]; list: DeadlineList<Job> } {
  vi.useFakeTimers({ toFake: clock ? ['setTimeout', 'clearTimeout', 'performance'] : ['setTimeout', 'clearTimeout'] });
  const fired: string[] = [];
  return { fired, list: new DeadlineList<Job>(ms, (j) => fired.push(j.name)) };
}

/** The timers that keep the event loop alive. */
function liveTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('DeadlineList', () => {
  it('fires each entry once its ms have passed, in order, never before', () => {
    const { fired, list } = recording(1000);
    list.add(job('a'));
    vi.advanceTimersByTime(400);
    list.add(job('b'));
    vi.advanceTimersByTime(599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(399);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires a removed entry; once empty, its one timer fires finding nothing and is gone', () => {
    const { fired, list } = recording(1000);
    const a = job('a');
    const b = job('b');
    list.add(a);
    list.add(b);
    list.remove(a);
    expect(vi.getTimerCount()).toBe(1);
    list.remove(b);
    list.remove(b);
    // Kept for the next entry rather than cleared and made again.
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(5000);
    expect(fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("lets an empty list's timer hold the process open no longer, and an entry added later re-arms it", async () => {
    const { fired, list } = recording(1000);
    const a = job('a');
    list.add(a);
    vi.advanceTimersByTime(600);
    list.remove(a);
    list.add(job('b'));
    // The timer set for a's due time fires first, finds b not yet due, and waits on for it.
    vi.advanceTimersByTime(400);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['b']);
    vi.useRealTimers();
    // Real timers: an empty list leaves nothing that keeps the event loop alive.
    const real = new DeadlineList<Job>(60_000, () => {});
    const before = liveTimeouts();
    const c = job('c');
    real.add(c);
    expect(liveTimeouts()).toBe(before + 1);
    real.remove(c);
    expect(liveTimeouts()).toBe(before);
    real.add(c);
    expect(liveTimeouts()).toBe(before + 1);
    real.clear();
    expect(liveTimeouts()).toBe(before);
  });

  it('re-adding an entry restarts its wait and puts it behind the others', () => {
    const { fired, list } = recording(1000);
    const a = job('a');
    list.add(a);
    vi.advanceTimersByTime(300);
    list.add(job('b'));
    vi.advanceTimersByTime(300);
    list.add(a);
    vi.advanceTimersByTime(400);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(fired).toEqual(['b']);
    vi.advanceTimersByTime(300);
    expect(fired).toEqual(['b', 'a']);
  });

  it('moves an entry from one list to another', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const fired: string[] = [];
    const short = new DeadlineList<Job>(100, (j) => fired.push(`short:${j.name}`));
    const long = new DeadlineList<Job>(1000, (j) => fired.push(`long:${j.name}`));
    const a = job('a');
    short.add(a);
    long.add(a);
    vi.advanceTimersByTime(999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['long:a']);
  });

  it('fires on time by the timer even when performance.now() does not follow it', () => {
    const { fired, list } = recording(60_000, false);
    list.add(job('a'));
    list.add(job('b'));
    vi.advanceTimersByTime(60_000);
    expect(fired).toContain('a');
    // b was added a hair after a (by the real clock): due within the next tick.
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a', 'b']);
  });

  it('lets an entry be added again from its own onDue', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let count = 0;
    const list: DeadlineList<Job> = new DeadlineList<Job>(100, (j) => {
      if (++count < 3) list.add(j);
    });
    list.add(job('a'));
    vi.advanceTimersByTime(1000);
    expect(count).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clear() drops every entry and the timer', () => {
    const { fired, list } = recording(100);
    const a = job('a');
    list.add(a);
    list.add(job('b'));
    list.clear();
    expect(vi.getTimerCount()).toBe(0);
    expect(a.dueList).toBeUndefined();
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
  });
});
