import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { resolveOptions } from '../../options/options.js';

function configError(rateLimit: unknown): ConfigError {
  try {
    resolveOptions({ rateLimit });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function limitsOf(options: unknown) {
  const resolved = resolveOptions({ rateLimit: options }).rateLimit;
  if (!resolved) throw new Error('rate limiting is off');
  return resolved.limits;
}

describe('rateLimit options', () => {
  it('is off unless given, and off with false', () => {
    expect(resolveOptions({}).rateLimit).toBeUndefined();
    expect(resolveOptions({ rateLimit: false }).rateLimit).toBe(false);
  });

  it('spells the shorthand out as one limit with defaults', () => {
    const resolved = resolveOptions({ rateLimit: { points: 10, duration: '1s' } }).rateLimit;
    expect(resolved).toEqual({
      limits: [
        {
          kind: 'builtin',
          name: '10-per-1000ms',
          algorithm: 'fixed-window',
          points: 10,
          durationMs: 1000,
          blockDurationMs: 0,
          burst: undefined,
          key: 'ip',
        },
      ],
      headers: true,
      allow: [],
      deny: [],
      ipv6Subnet: 64,
      onRedisError: 'insurance',
      outageInstances: 1,
      maxKeys: 100_000,
    });
  });

  it('resolves several limits, each inheriting the top-level key and algorithm', () => {
    const limits = limitsOf({
      algorithm: 'sliding-window',
      key: { header: 'X-Api-Key' },
      limits: [
        { name: 'per-second', points: 10, duration: '1s' },
        { name: 'per-hour', points: 1000, duration: '1h', algorithm: 'token-bucket', burst: 50, key: 'ip' },
      ],
    });
    expect(limits).toMatchObject([
      { name: 'per-second', algorithm: 'sliding-window', key: { header: 'x-api-key' } },
      { name: 'per-hour', algorithm: 'token-bucket', burst: 50, durationMs: 3_600_000, key: 'ip' },
    ]);
  });

  it('names the path of each mistake', () => {
    expect(configError({ points: 10 }).path).toBe('rateLimit.duration');
    expect(configError({ points: 10, duration: '1s', limits: [{ points: 1, duration: '1s' }] }).path).toBe(
      'rateLimit.limits',
    );
    expect(configError({}).path).toBe('rateLimit.points');
    expect(configError({ points: 10, duration: '250ms' }).message).toContain('whole seconds');
    expect(configError({ points: 10, duration: 0, algorithm: 'sliding-window' }).path).toBe('rateLimit.duration');
    expect(configError({ points: 10, duration: '1s', burst: 5 }).path).toBe('rateLimit.burst');
    expect(
      configError({
        limits: [
          { name: 'a', points: 1, duration: '1s' },
          { name: 'a', points: 2, duration: '1s' },
        ],
      }).path,
    ).toBe('rateLimit.limits[1].name');
    expect(configError({ points: 1, duration: '1s', deny: ['10.0.0.0/33'] }).path).toBe('rateLimit.deny[0]');
    expect(configError({ points: 1, duration: '1s', key: 'cookie' }).path).toBe('rateLimit.key');
    expect(configError({ points: 1, duration: '1s', algorithm: 'leaky' }).path).toBe('rateLimit.algorithm');
    expect(configError({ points: 1, duration: '1s', onRedisError: 'retry' }).path).toBe('rateLimit.onRedisError');
    expect(
      configError({ points: 1_000_000_000, duration: '366d'.replace('d', 'h'), algorithm: 'token-bucket' }).path,
    ).toBe('rateLimit.points');
  });

  it('accepts a user limiter in limits', () => {
    const limiter = {
      name: 'mine',
      consume: () => ({ allowed: true, limit: 1, remaining: 1, resetMs: 0, retryAfterMs: 0 }),
    };
    const [custom] = limitsOf({ limits: [{ limiter }] });
    expect(custom).toMatchObject({ kind: 'custom', key: 'ip' });
    expect(custom?.kind === 'custom' && custom.limiter).toBe(limiter);
    expect(configError({ limits: [{ limiter: { consume: 1 } }] }).path).toBe('rateLimit.limits[0].limiter');
    expect(configError({ limits: [{ pionts: 1, duration: '1s' }] }).path).toBe('rateLimit.limits[0].points');
  });
});
