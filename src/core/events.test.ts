import { afterEach, describe, expect, it, vi } from 'vitest';
import { Events } from './events.js';

const closed = {} as Record<string, never>;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Events', () => {
  it('calls listeners in subscription order; has() tells whether anyone listens', () => {
    const events = new Events();
    const seen: string[] = [];
    expect(events.has('closed')).toBe(false);
    const offA = events.on('closed', () => seen.push('a'));
    events.on('closed', () => seen.push('b'));
    expect(events.has('closed')).toBe(true);
    events.emit('closed', closed);
    offA();
    events.emit('closed', closed);
    expect(seen).toEqual(['a', 'b', 'b']);
    events.removeAll();
    expect(events.has('closed')).toBe(false);
    events.emit('closed', closed);
    expect(seen).toEqual(['a', 'b', 'b']);
  });

  it('runs a once() listener one time, even when it emits the same event again', () => {
    const events = new Events();
    let calls = 0;
    events.once('closed', () => {
      calls++;
      events.emit('closed', closed);
    });
    events.emit('closed', closed);
    events.emit('closed', closed);
    expect(calls).toBe(1);
    expect(events.has('closed')).toBe(false);
  });

  it('off() removes a listener subscribed with on() or once(), the latest subscription first', () => {
    const events = new Events();
    const seen: string[] = [];
    const listener = () => seen.push('x');
    events.on('closed', listener);
    events.once('closed', listener);
    events.off('closed', listener);
    events.emit('closed', closed);
    events.emit('closed', closed);
    // The once() subscription went first; the on() one stays.
    expect(seen).toEqual(['x', 'x']);
    events.off('closed', listener);
    expect(events.has('closed')).toBe(false);
  });

  it('does not call a listener added during an emit until the next one, and still calls one removed during it', () => {
    const events = new Events();
    const seen: string[] = [];
    let offB = () => {};
    events.on('closed', () => {
      seen.push('a');
      offB();
      events.on('closed', () => seen.push('late'));
    });
    offB = events.on('closed', () => seen.push('b'));
    events.emit('closed', closed);
    expect(seen).toEqual(['a', 'b']);
    events.emit('closed', closed);
    expect(seen).toEqual(['a', 'b', 'a', 'late']);
  });

  it('unsubscribes on the signal, and subscribes nothing on one already aborted', () => {
    const events = new Events();
    const seen: string[] = [];
    const stop = new AbortController();
    events.on('closed', () => seen.push('a'), { signal: stop.signal });
    events.once('closed', () => seen.push('b'), { signal: stop.signal });
    stop.abort();
    events.on('closed', () => seen.push('c'), { signal: stop.signal });
    events.emit('closed', closed);
    expect(seen).toEqual([]);
    expect(events.has('closed')).toBe(false);
  });

  it('reports a listener that throws as a warning and still runs the others', () => {
    const events = new Events();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const seen: string[] = [];
    events.on('closed', () => {
      throw new Error('listener bug');
    });
    events.on('closed', () => seen.push('after'));
    expect(() => events.emit('closed', closed)).not.toThrow();
    expect(seen).toEqual(['after']);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/'closed' listener threw: Error: listener bug/);
  });
});
