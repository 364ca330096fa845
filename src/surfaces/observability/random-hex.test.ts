import { describe, expect, it } from 'vitest';
import { randomTraceparent, randomUuid } from './random-hex.js';
import { parseTraceparent } from './traceparent.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('random ids', () => {
  it('spells version 4 UUIDs, all different, across pool refills', () => {
    const seen = new Set<string>();
    // 16 bytes each: 1,000 ids go through the 4 KiB pool four times.
    for (let i = 0; i < 1000; i++) {
      const id = randomUuid();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
  });

  it('makes traceparent values that parse, for a new trace and a continued one', () => {
    const fresh = randomTraceparent(undefined, '01');
    expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(parseTraceparent(fresh)).toEqual({
      traceId: fresh.slice(3, 35),
      parentId: fresh.slice(36, 52),
      flags: '01',
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const continued = randomTraceparent(traceId, '00');
    expect(continued.slice(0, 36)).toBe(`00-${traceId}-`);
    expect(continued.endsWith('-00')).toBe(true);
    expect(parseTraceparent(continued)?.parentId).not.toBe(fresh.slice(36, 52));
  });

  it('never hands out an all-zero trace or span id, and ids differ each time', () => {
    const spans = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const value = randomTraceparent(undefined, '01');
      expect(value.slice(3, 35)).not.toBe('0'.repeat(32));
      expect(value.slice(36, 52)).not.toBe('0'.repeat(16));
      spans.add(value.slice(36, 52));
    }
    expect(spans.size).toBe(600);
  });
});
