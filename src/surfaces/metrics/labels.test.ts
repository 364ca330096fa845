import { describe, expect, it } from 'vitest';
import { BoundedLabel, methodLabel, statusClass } from './labels.js';

describe('methodLabel', () => {
  it('keeps standard methods and folds the rest into OTHER', () => {
    expect(methodLabel('GET')).toBe('GET');
    expect(methodLabel('PATCH')).toBe('PATCH');
    expect(methodLabel('PURGE')).toBe('OTHER');
    expect(methodLabel('get')).toBe('OTHER');
    expect(methodLabel('X'.repeat(1000))).toBe('OTHER');
  });
});

describe('statusClass', () => {
  it('maps statuses to their class and anything outside 100-599 to other', () => {
    expect(statusClass(200)).toBe('2xx');
    expect(statusClass(499)).toBe('4xx');
    expect(statusClass(503)).toBe('5xx');
    expect(statusClass(101)).toBe('1xx');
    expect(statusClass(99)).toBe('other');
    expect(statusClass(600)).toBe('other');
  });
});

describe('BoundedLabel', () => {
  it('stops taking new values at its maximum and frees released ones', () => {
    const label = new BoundedLabel(2);
    expect(label.value('a')).toBe('a');
    expect(label.value('b')).toBe('b');
    expect(label.value('c')).toBe('other');
    expect(label.value('a')).toBe('a');
    label.release('a');
    expect(label.value('c')).toBe('c');
  });
});
