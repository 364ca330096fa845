import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Family } from './family.js';

function counter(labelNames: string[]) {
  const registry = new Registry();
  const metric = new Counter({ name: 'c_total', help: 'c', labelNames, registers: [registry] });
  return { registry, metric };
}

describe('Family', () => {
  it('hands out the same child for the same label values', () => {
    const { metric } = counter(['backend', 'reason']);
    const family = new Family(metric, ['backend', 'reason'], {});
    expect(family.child('a', 'reset')).toBe(family.child('a', 'reset'));
    expect(family.child('a', 'reset')).not.toBe(family.child('a', 'timeout'));
  });

  it('adds the constant labels to every child', async () => {
    const { metric, registry } = counter(['instance', 'backend']);
    new Family(metric, ['backend'], { instance: 'i1' }).child('a').inc(2);
    expect(await registry.metrics()).toContain('c_total{instance="i1",backend="a"} 2');
  });

  it('drops every series under a first label value, and only those', async () => {
    const { metric, registry } = counter(['backend', 'method', 'status_class']);
    const family = new Family(metric, ['backend', 'method', 'status_class'], {});
    family.child('a', 'GET', '2xx').inc();
    family.child('a', 'PUT', '5xx').inc();
    family.child('b', 'GET', '2xx').inc();
    family.drop('a');
    const text = await registry.metrics();
    expect(text).not.toContain('backend="a"');
    expect(text).toContain('backend="b"');
    family.child('a', 'GET', '2xx').inc();
    expect(await registry.metrics()).toContain('c_total{backend="a",method="GET",status_class="2xx"} 1');
  });

  it('clears every series', async () => {
    const { metric, registry } = counter(['backend']);
    const family = new Family(metric, ['backend'], {});
    family.child('a').inc();
    family.clear();
    expect(await registry.metrics()).not.toContain('backend="a"');
  });
});
