import { describe, expect, it } from 'vitest';
import { type CachedEntry, type EvictReason, entryBytes, MemoryCacheStore } from './memory-store.js';

function entry(key: string, bodyBytes: number, expires = Number.POSITIVE_INFINITY): CachedEntry {
  const headers = { 'content-type': 'text/plain' };
  return {
    kind: 'entry',
    status: 200,
    statusMessage: undefined,
    headers,
    body: Buffer.alloc(bodyBytes),
    storedAt: 0,
    initialAge: 0,
    expires,
    bytes: entryBytes(key, headers, bodyBytes),
  };
}

describe('MemoryCacheStore', () => {
  it('keeps the bytes it holds under maxBytes, evicting the least recently used', () => {
    const evicted: Array<[string, EvictReason]> = [];
    const store = new MemoryCacheStore({
      maxEntries: 1_000_000,
      maxBytes: 100_000,
      now: () => 0,
      onEvict: (key, _bytes, reason) => evicted.push([key, reason]),
    });
    for (let i = 0; i < 5000; i++) {
      store.set(`k${i}`, entry(`k${i}`, 1000 + (i % 7) * 100));
      expect(store.bytes).toBeLessThanOrEqual(100_000);
    }
    expect(store.size).toBeGreaterThan(50);
    expect(store.size).toBeLessThan(100);
    expect(evicted[0]).toEqual(['k0', 'bytes']);
    expect(store.get('k4999')).toBeDefined();
    expect(store.get('k0')).toBeUndefined();
  });

  it('keeps the tracked bytes exact across replacements, deletes and purges', () => {
    const store = new MemoryCacheStore({ maxEntries: 100, maxBytes: 1_000_000, now: () => 0 });
    store.set('a', entry('a', 100));
    store.set('a', entry('a', 300));
    store.set('b/1', entry('b/1', 50));
    store.set('b/2', entry('b/2', 50));
    expect(store.bytes).toBe(
      entryBytes('a', { 'content-type': 'text/plain' }, 300) +
        2 * entryBytes('b/1', { 'content-type': 'text/plain' }, 50),
    );
    expect(store.purge('b/').sort()).toEqual(['b/1', 'b/2']);
    store.delete('a');
    expect(store.bytes).toBe(0);
    expect(store.size).toBe(0);
  });

  it('reports a replaced entry as leaving, so entry and byte counts kept from events stay exact', () => {
    const events: Array<[string, number, EvictReason]> = [];
    const store = new MemoryCacheStore({
      maxEntries: 100,
      maxBytes: 1_000_000,
      now: () => 0,
      onEvict: (key, bytes, reason) => events.push([key, bytes, reason]),
    });
    store.set('a', entry('a', 100));
    store.set('a', entry('a', 300));
    expect(events).toEqual([['a', entryBytes('a', { 'content-type': 'text/plain' }, 100), 'replaced']]);
    expect(store.bytes).toBe(entryBytes('a', { 'content-type': 'text/plain' }, 300));
  });

  it('bounds the entry count through tiny-lru', () => {
    const reasons: EvictReason[] = [];
    const store = new MemoryCacheStore({
      maxEntries: 2,
      maxBytes: 1_000_000,
      now: () => 0,
      onEvict: (_key, _bytes, reason) => reasons.push(reason),
    });
    for (const key of ['a', 'b', 'c']) store.set(key, entry(key, 10));
    expect(store.size).toBe(2);
    expect(store.peek('a')).toBeUndefined();
    expect(reasons).toEqual(['lru']);
  });

  it('drops an entry once stale on the injected clock', () => {
    let now = 0;
    const reasons: EvictReason[] = [];
    const store = new MemoryCacheStore({
      maxEntries: 10,
      maxBytes: 1_000_000,
      now: () => now,
      onEvict: (_key, _bytes, reason) => reasons.push(reason),
    });
    store.set('a', entry('a', 10, 1000));
    now = 999;
    expect(store.get('a')).toBeDefined();
    now = 1000;
    expect(store.get('a')).toBeUndefined();
    expect(store.bytes).toBe(0);
    expect(reasons).toEqual(['expired']);
  });

  it('refuses an entry bigger than maxBytes', () => {
    const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 1000, now: () => 0 });
    expect(store.set('a', entry('a', 2000))).toBe(false);
    expect(store.size).toBe(0);
  });
});
