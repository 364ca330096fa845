import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configError } from '../../../test/helpers.js';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { parseOptions } from '../../core/zod.js';
import {
  createStrategy,
  DEFAULT_STRATEGY,
  STRATEGY_NAMES,
  type StrategyOption,
  strategyOptionSchema,
} from './create-strategy.js';
import type { MaglevStrategy } from './maglev.js';
import { seededRandom } from './random.js';

const ctx: SelectionContext = {
  req: { headers: {} } as IncomingMessage,
  clientAddress: '10.0.0.1',
  now: 0,
  attempt: 1,
};
const all: Candidate[] = ['a', 'b', 'c'].map((id) => ({ id, weight: 1, effectiveWeight: 1, active: 0 }));

describe('createStrategy', () => {
  it('builds every built-in strategy by name and as { name }', () => {
    for (const name of STRATEGY_NAMES) {
      for (const option of [name, { name }] as StrategyOption[]) {
        const strategy = createStrategy(option);
        expect(strategy.name).toBe(name);
        strategy.update?.(all);
        expect(all).toContain(strategy.pick(all, ctx));
      }
    }
  });

  it('defaults to p2c', () => {
    expect(DEFAULT_STRATEGY).toBe('p2c');
    expect(createStrategy().name).toBe('p2c');
  });

  it('accepts a user-supplied strategy object and returns it untouched', () => {
    const mine: Strategy = { name: 'last', pick: (candidates) => candidates[candidates.length - 1] };
    expect(createStrategy(mine)).toBe(mine);
    expect(createStrategy(mine).pick(all, ctx)).toBe(all[2]);
    // Even one whose name clashes with a built-in's and that carries extra fields.
    const odd = { name: 'maglev', tableSize: 4, pick: () => undefined };
    expect(createStrategy(odd as unknown as StrategyOption)).toBe(odd);
  });

  it('passes options through to the strategy', () => {
    const strategy = createStrategy({ name: 'maglev', tableSize: 251 }) as MaglevStrategy;
    strategy.update?.(all);
    expect(strategy.tableSize).toBe(251);
  });

  it('injects the random source into the strategies that draw', () => {
    for (const name of ['random', 'weighted-random', 'p2c', 'least-connections', 'least-response-time'] as const) {
      const run = () => {
        const strategy = createStrategy(name, { random: seededRandom(11) });
        return Array.from({ length: 50 }, () => strategy.pick(all, ctx)!.id).join('');
      };
      expect(run()).toBe(run());
    }
  });

  it('rejects an unknown name with a ConfigError that lists the valid names', () => {
    const e1 = configError(() => createStrategy('fastest' as StrategyOption));
    expect(e1.path).toBe('strategy');
    expect(e1.value).toBe('fastest');
    for (const name of STRATEGY_NAMES) expect(e1.message).toContain(name);
    const e2 = configError(() => createStrategy({ name: 'fastest' } as unknown as StrategyOption));
    expect(e2.path).toBe('strategy.name');
    expect(e2.message).toContain('least-connections');
    expect(configError(() => createStrategy({} as StrategyOption)).path).toBe('strategy.name');
    expect(configError(() => createStrategy(42 as unknown as StrategyOption)).path).toBe('strategy');
    expect(configError(() => createStrategy(null as unknown as StrategyOption)).path).toBe('strategy');
  });

  it('names the exact bad option in a ConfigError', () => {
    const cases: [StrategyOption, string][] = [
      [{ name: 'consistent-hash', key: 'nope' } as unknown as StrategyOption, 'strategy.key'],
      [{ name: 'consistent-hash', key: { header: '' } }, 'strategy.key.header'],
      [{ name: 'consistent-hash', key: { cookie: '' } }, 'strategy.key.cookie'],
      [{ name: 'consistent-hash', balanceFactor: 1 }, 'strategy.balanceFactor'],
      [{ name: 'consistent-hash', virtualNodes: 0 }, 'strategy.virtualNodes'],
      [{ name: 'maglev', tableSize: 65536 }, 'strategy.tableSize'],
      [{ name: 'maglev', tableSize: 'big' } as unknown as StrategyOption, 'strategy.tableSize'],
      [{ name: 'p2c', decay: '-1s' } as unknown as StrategyOption, 'strategy.decay'],
      [{ name: 'round-robin', weights: [1] } as unknown as StrategyOption, 'strategy.weights'],
      [{ name: 'maglev', virtualNodes: 10 } as unknown as StrategyOption, 'strategy.virtualNodes'],
    ];
    for (const [option, path] of cases) expect(configError(() => createStrategy(option)).path).toBe(path);
  });

  it('does not mutate the caller’s options', () => {
    const option = Object.freeze({ name: 'consistent-hash', key: Object.freeze({ header: 'X-User' }) } as const);
    expect(() => createStrategy(option)).not.toThrow();
    expect(option.key.header).toBe('X-User');
  });
});

describe('strategyOptionSchema', () => {
  const outer = z.strictObject({ strategy: strategyOptionSchema.default(DEFAULT_STRATEGY) });

  it('embeds in a larger schema, with defaults resolved and user objects kept by identity', () => {
    expect(parseOptions(outer, {}).strategy).toBe('p2c');
    expect(parseOptions(outer, { strategy: { name: 'p2c' } }).strategy).toEqual({
      name: 'p2c',
      decay: 10_000,
      failurePenalty: 5_000,
    });
    const mine: Strategy = { name: 'mine', pick: (c) => c[0] };
    expect(parseOptions(outer, { strategy: mine }).strategy).toBe(mine);
    // Its output builds the same strategy again.
    const parsed = parseOptions(outer, { strategy: { name: 'consistent-hash', key: { header: 'X-User' } } });
    expect(createStrategy(parsed.strategy).name).toBe('consistent-hash');
  });

  it('reports unknown names and bad options understandably when embedded', () => {
    expect(configError(() => parseOptions(outer, { strategy: 'fastest' })).message).toContain('least-response-time');
    expect(configError(() => parseOptions(outer, { strategy: { name: 'fastest' } })).message).toContain('maglev');
    const bad = configError(() => parseOptions(outer, { strategy: { name: 'maglev', tableSize: 'big' } }));
    expect(bad.path).toBe('strategy.tableSize');
    expect(bad.value).toBe('big');
    const refined = configError(() => parseOptions(outer, { strategy: { name: 'maglev', tableSize: 10 } }));
    expect(refined.path).toBe('strategy.tableSize');
  });

  it('converts to JSON Schema for the CLI', () => {
    const schema = z.toJSONSchema(strategyOptionSchema, { io: 'input', unrepresentable: 'any' });
    expect(JSON.stringify(schema)).toContain('"maglev"');
    expect(JSON.stringify(schema)).toContain('tableSize');
  });
});
