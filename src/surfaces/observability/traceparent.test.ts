import { describe, expect, it } from 'vitest';
import { parseTraceparent, proxyTrace } from './traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;
const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

describe('parseTraceparent', () => {
  it('parses a valid version-00 header', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: SPAN, flags: '01' });
  });

  it('accepts a later version with extra fields after a dash', () => {
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01`)?.traceId).toBe(TRACE);
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['repeated (joined by Node)', `${VALID}, ${VALID}`],
    ['an array', [VALID, VALID]],
    ['upper-case hex', VALID.toUpperCase()],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['a long span id', `00-${TRACE}-${SPAN}0-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['a later version with junk right after the flags', `cc-${TRACE}-${SPAN}-01x`],
    ['non-hex characters', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['a huge header', `cc-${TRACE}-${SPAN}-01-${'a'.repeat(10_000)}`],
  ])('treats %s as absent', (_what, value) => {
    expect(parseTraceparent(value as string | string[] | undefined)).toBeUndefined();
  });
});

describe('proxyTrace', () => {
  it('continues a valid trace with a new span id, keeping trace id and flags', () => {
    const trace = proxyTrace(`00-${TRACE}-${SPAN}-00`);
    expect(trace.continued).toBe(true);
    expect(trace.traceId).toBe(TRACE);
    expect(trace.spanId).not.toBe(SPAN);
    expect(trace.header).toBe(`00-${TRACE}-${trace.spanId}-00`);
    expect(trace.header).toMatch(FORMAT);
  });

  it('sends a later version on as version 00', () => {
    expect(proxyTrace(`cc-${TRACE}-${SPAN}-01-x`).header).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
  });

  it('starts a new sampled trace when the header is absent or invalid', () => {
    for (const incoming of [undefined, 'garbage', `00-${'0'.repeat(32)}-${SPAN}-01`]) {
      const trace = proxyTrace(incoming);
      expect(trace.continued).toBe(false);
      expect(trace.header).toMatch(FORMAT);
      expect(trace.header.endsWith('-01')).toBe(true);
      expect(trace.traceId).not.toBe('0'.repeat(32));
      expect(parseTraceparent(trace.header)?.traceId).toBe(trace.traceId);
    }
  });

  it('makes a different trace and span id each time', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const trace = proxyTrace(undefined);
      ids.add(trace.traceId);
      ids.add(trace.spanId);
    }
    expect(ids.size).toBe(2000);
  });
});
