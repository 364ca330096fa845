import { describe, expect, it } from 'vitest';
import { MemorySessionStore, sessionKey } from './session-store.js';

describe('MemorySessionStore', () => {
  it('forgets a session once its TTL passes without traffic, and extends it on use', () => {
    let now = 0;
    const store = new MemorySessionStore({ maxEntries: 10, now: () => now });
    store.set('alice', 'a', 1000);
    now = 900;
    expect(store.get('alice', 1000)).toBe('a');
    now = 1800;
    expect(store.get('alice', 1000)).toBe('a');
    now = 2801;
    expect(store.get('alice', 1000)).toBeUndefined();
  });

  it('holds at most maxEntries sessions, dropping the least recently used', () => {
    const store = new MemorySessionStore({ maxEntries: 3, now: () => 0 });
    for (const key of ['a', 'b', 'c']) store.set(key, 'x', 1000);
    store.get('a', 1000);
    store.set('d', 'x', 1000);
    expect(store.size).toBe(3);
    expect(store.get('b', 1000)).toBeUndefined();
    expect(store.get('a', 1000)).toBe('x');
  });
});

describe('sessionKey', () => {
  it('keeps short keys and hashes long ones to a bounded size', () => {
    expect(sessionKey('10.0.0.1')).toBe('10.0.0.1');
    const long = sessionKey('x'.repeat(100_000));
    expect(long.length).toBeLessThan(64);
    expect(sessionKey('x'.repeat(100_000))).toBe(long);
    expect(sessionKey('y'.repeat(100_000))).not.toBe(long);
  });
});
