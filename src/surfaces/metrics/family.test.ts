import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Family } from './family.js';

/** A counter whose family flushes pending increments when the registry is read, as BalancerMetrics wires it. */
function counter(labelNames: string[], names = labelNames, constant: Record<string, string> = {}) {
  const registry = new Registry();
  let family: Family<Counter<string>> | undefined;
  const metric = new Counter({
    name: 'c_total',
    help: 'c',
    labelNames,
    registers: [registry],
    collect: () => family?.flush(),
  });
  family = new Family(metric, names, constant);
  return { registry, metric, family };
}

describe('Family', () => {
  it('hands out the same child for the same label values', () => {
    const { family } = counter(['backend', 'reason']);
    expect(family.child('a', 'reset')).toBe(family.child('a', 'reset'));
    expect(family.child('a', 'reset')).not.toBe(family.child('a', 'timeout'));
  });

  it('adds the constant labels to every child', async () => {
    const { family, registry } = counter(['instance', 'backend'], ['backend'], { instance: 'i1' });
    family.child('a').inc(2);
    expect(await registry.metrics()).toContain('c_total{instance="i1",backend="a"} 2');
  });

  it('drops every series under a first label value, and only those', async () => {
    const { family, registry } = counter(['backend', 'method', 'status_class']);
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
    const { family, registry } = counter(['backend']);
    family.child('a').inc();
    family.clear();
    expect(await registry.metrics()).not.toContain('backend="a"');
  });

  it('holds counter increments until the registry is read', async () => {
    const { family, metric } = counter(['backend']);
    const child = family.child('a');
    child.inc();
    child.inc(4);
    expect(child.pending).toBe(5);
    expect((await metric.get()).values).toEqual([{ value: 5, labels: { backend: 'a' } }]);
    expect(child.pending).toBe(0);
    child.inc();
    expect((await metric.get()).values[0]?.value).toBe(6);
  });
});
