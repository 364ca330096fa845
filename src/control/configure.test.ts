import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { configError } from '../../test/helpers.js';
import { ConfigError } from '../core/errors.js';
import { createConfigurator } from './configure.js';

const schemas = {
  feature: z.union([z.literal(false), z.strictObject({ a: z.number().default(1), b: z.string().default('x') })]),
  level: z.number().min(0).max(10),
};

function make(initial: object = {}) {
  const feature = vi.fn();
  const level = vi.fn();
  const applied = vi.fn();
  const configure = createConfigurator(schemas, { feature, level }, initial, applied);
  return { configure, feature, level, applied };
}

describe('createConfigurator', () => {
  it('validates a section and hands the resolved value to its updater', () => {
    const { configure, feature, level, applied } = make();
    configure({ feature: { a: 2 } });
    expect(feature).toHaveBeenCalledWith({ a: 2, b: 'x' });
    expect(level).not.toHaveBeenCalled();
    expect(applied).toHaveBeenCalledWith({ feature: { a: 2, b: 'x' } });
  });

  it('merges an object patch into the options last given', () => {
    const { configure, feature } = make({ feature: { b: 'kept' } });
    configure({ feature: { a: 3 } });
    expect(feature).toHaveBeenLastCalledWith({ a: 3, b: 'kept' });
    configure({ feature: { b: 'new' } });
    expect(feature).toHaveBeenLastCalledWith({ a: 3, b: 'new' });
  });

  it('turns a section off with false and starts afresh after it', () => {
    const { configure, feature } = make({ feature: { a: 5 } });
    configure({ feature: false });
    expect(feature).toHaveBeenLastCalledWith(false);
    configure({ feature: { b: 'y' } });
    expect(feature).toHaveBeenLastCalledWith({ a: 1, b: 'y' });
  });

  it('applies nothing when any section of the patch is bad', () => {
    const { configure, feature, level, applied } = make();
    const error = configError(() => configure({ feature: { a: 2 }, level: 11 }));
    expect(error.path).toBe('level');
    expect(feature).not.toHaveBeenCalled();
    expect(level).not.toHaveBeenCalled();
    expect(applied).not.toHaveBeenCalled();
    // ...and the failed patch is not remembered for the next merge.
    configure({ feature: {} });
    expect(feature).toHaveBeenLastCalledWith({ a: 1, b: 'x' });
  });

  it('names the field inside a section', () => {
    const { configure } = make();
    expect(configError(() => configure({ feature: { a: 'two' } as never })).path).toBe('feature.a');
  });

  it('refuses unknown sections and patches that are not objects', () => {
    const { configure } = make();
    expect(configError(() => configure({ nope: 1 } as never)).path).toBe('nope');
    expect(configError(() => configure([] as never)).path).toBe('');
    expect(configError(() => configure(null as never)).path).toBe('');
  });

  it('skips sections given as undefined', () => {
    const { configure, feature, applied } = make();
    configure({ feature: undefined });
    expect(feature).not.toHaveBeenCalled();
    expect(applied).toHaveBeenCalledWith({});
  });
});

describe('createConfigurator options', () => {
  it('replaces a section listed in replace instead of merging it', () => {
    const feature = vi.fn();
    const configure = createConfigurator(schemas, { feature, level: vi.fn() }, { feature: { b: 'old' } }, vi.fn(), {
      replace: ['feature'],
    });
    configure({ feature: { a: 4 } });
    expect(feature).toHaveBeenLastCalledWith({ a: 4, b: 'x' });
  });

  it('lets check refuse a whole patch before any section is applied', () => {
    const feature = vi.fn();
    const level = vi.fn();
    const configure = createConfigurator(schemas, { feature, level }, {}, vi.fn(), {
      check: (resolved) => {
        if (resolved.feature === false && resolved.level === undefined) throw new ConfigError('feature', false, 'x');
      },
    });
    expect(configError(() => configure({ feature: false })).path).toBe('feature');
    expect(feature).not.toHaveBeenCalled();
    configure({ feature: false, level: 1 });
    expect(feature).toHaveBeenCalledWith(false);
  });
});
