import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { resolveOptions } from '../../options/options.js';

function configError(options: unknown): ConfigError {
  try {
    resolveOptions(options);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('no ConfigError');
}

describe('metrics options', () => {
  it('are on by default with the switchyard_ prefix and a 60 s window', () => {
    const metrics = resolveOptions({}).metrics;
    expect(metrics).toMatchObject({ prefix: 'switchyard_', window: 60_000, defaultLabels: {} });
    expect(metrics === false ? 'off' : metrics.registry).toBeUndefined();
  });

  it('accept false, a registry, buckets, default labels, a token and a window string', () => {
    expect(resolveOptions({ metrics: false }).metrics).toBe(false);
    const registry = new Registry();
    const metrics = resolveOptions({
      metrics: { registry, buckets: [0.1, 1], defaultLabels: { instance: 'x' }, token: 't', window: '5m' },
    }).metrics;
    expect(metrics).toMatchObject({ buckets: [0.1, 1], defaultLabels: { instance: 'x' }, token: 't', window: 300_000 });
    expect(metrics === false ? 'off' : metrics.registry).toBe(registry);
  });

  it.each([
    ['a registry that is not one', { registry: {} }, 'metrics.registry'],
    ['a prefix with a dash', { prefix: 'my-app_' }, 'metrics.prefix'],
    ['buckets out of order', { buckets: [1, 0.5] }, 'metrics.buckets'],
    ['a negative bucket', { buckets: [-1] }, 'metrics.buckets[0]'],
    ['a default label switchyard uses', { defaultLabels: { backend: 'x' } }, 'metrics.defaultLabels.backend'],
    ['a default label that is not a label name', { defaultLabels: { 'a-b': 'x' } }, 'metrics.defaultLabels.a-b'],
    ['an empty token', { token: '' }, 'metrics.token'],
    ['a window under a second', { window: 10 }, 'metrics.window'],
    ['an unknown key', { registery: 1 }, 'metrics.registery'],
  ])('refuse %s', (_what, metrics, path) => {
    expect(configError({ metrics }).path).toBe(path);
  });
});
