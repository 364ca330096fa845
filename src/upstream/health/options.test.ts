import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { resolveOptions } from '../../options/options.js';
import { circuitBreakerSchema } from '../../stages/circuit-breaker/options.js';

/** [what, options, expected path, a fragment of the message] */
const BAD: Array<[string, unknown, string, string]> = [
  ['healthyThreshold 0', { healthCheck: { healthyThreshold: 0 } }, 'healthCheck.healthyThreshold', '0'],
  ['unhealthyThreshold 0', { healthCheck: { unhealthyThreshold: 0 } }, 'healthCheck.unhealthyThreshold', '0'],
  ['a fractional threshold', { healthCheck: { healthyThreshold: 1.5 } }, 'healthCheck.healthyThreshold', ''],
  [
    'a timeout longer than the interval',
    { healthCheck: { interval: '1s', timeout: '2s' } },
    'healthCheck.timeout',
    'no longer than interval',
  ],
  [
    'a timeout longer than unhealthyInterval',
    { healthCheck: { interval: '10s', unhealthyInterval: '1s', timeout: '2s' } },
    'healthCheck.timeout',
    '1000 ms',
  ],
  ['a zero interval', { healthCheck: { interval: 0 } }, 'healthCheck.interval', '> 0'],
  ['a zero timeout', { healthCheck: { timeout: 0 } }, 'healthCheck.timeout', '> 0'],
  ['jitter above 0.5', { healthCheck: { jitter: 0.8 } }, 'healthCheck.jitter', '0.8'],
  ['a POST check', { healthCheck: { method: 'POST' } }, 'healthCheck.method', 'POST'],
  ['a path without a slash', { healthCheck: { path: 'health' } }, 'healthCheck.path', 'starting with "/"'],
  ['a path with a newline', { healthCheck: { path: '/h\r\nX: 1' } }, 'healthCheck.path', ''],
  [
    'a status range with min > max',
    { healthCheck: { expectedStatus: [399, 200] } },
    'healthCheck.expectedStatus',
    'min <= max',
  ],
  [
    'a range with min > max inside a list',
    { healthCheck: { expectedStatus: [200, [304, 301]] } },
    'healthCheck.expectedStatus[1]',
    'min <= max',
  ],
  ['a status out of range', { healthCheck: { expectedStatus: 700 } }, 'healthCheck.expectedStatus', 'HTTP status'],
  ['an empty status list', { healthCheck: { expectedStatus: [] } }, 'healthCheck.expectedStatus', ''],
  ['a bad header name', { healthCheck: { headers: { 'bad header': 'x' } } }, 'healthCheck.headers.bad header', 'key'],
  ['a header value with CR LF', { healthCheck: { headers: { 'x-a': 'a\r\nb' } } }, 'healthCheck.headers.x-a', ''],
  ['an unknown health option', { healthCheck: { intervall: '1s' } }, 'healthCheck.intervall', 'unknown'],
  ['healthCheck: true', { healthCheck: true }, 'healthCheck', ''],
  ['a phi threshold of 0', { healthCheck: { phiAccrual: { threshold: 0 } } }, 'healthCheck.phiAccrual.threshold', ''],
  [
    'maxEjectionPercent 150',
    { outlierDetection: { maxEjectionPercent: 150 } },
    'outlierDetection.maxEjectionPercent',
    '150',
  ],
  ['consecutive5xx 0', { outlierDetection: { consecutive5xx: 0 } }, 'outlierDetection.consecutive5xx', ''],
  [
    'maxEjectionTime below baseEjectionTime',
    { outlierDetection: { baseEjectionTime: '60s', maxEjectionTime: '30s' } },
    'outlierDetection.maxEjectionTime',
    'no shorter than baseEjectionTime',
  ],
  ['a zero baseEjectionTime', { outlierDetection: { baseEjectionTime: 0 } }, 'outlierDetection.baseEjectionTime', ''],
  ['panicThreshold 120', { panicThreshold: 120 }, 'panicThreshold', '120'],
  [
    'errorThresholdPercentage above 100',
    { circuitBreaker: { errorThresholdPercentage: 150 } },
    'circuitBreaker.errorThresholdPercentage',
    'below 100',
  ],
  [
    'errorThresholdPercentage 100',
    { circuitBreaker: { errorThresholdPercentage: 100 } },
    'circuitBreaker.errorThresholdPercentage',
    '',
  ],
  ['a negative volumeThreshold', { circuitBreaker: { volumeThreshold: -1 } }, 'circuitBreaker.volumeThreshold', ''],
  ['halfOpenProbes 0', { circuitBreaker: { halfOpenProbes: 0 } }, 'circuitBreaker.halfOpenProbes', ''],
  ['successThreshold 0', { circuitBreaker: { successThreshold: 0 } }, 'circuitBreaker.successThreshold', ''],
  [
    'buckets that do not divide the window',
    { circuitBreaker: { rollingCountTimeout: '1s', rollingCountBuckets: 3 } },
    'circuitBreaker.rollingCountBuckets',
    'divisor',
  ],
  ['a zero resetTimeout', { circuitBreaker: { resetTimeout: 0 } }, 'circuitBreaker.resetTimeout', ''],
  [
    'failure statuses out of range',
    { circuitBreaker: { failureStatuses: [600, 700] } },
    'circuitBreaker.failureStatuses[0]',
    'HTTP status',
  ],
  ['a fractional retry count (inside false | {...})', { retry: { attempts: 1.5 } }, 'retry.attempts', ''],
];

describe('resilience options', () => {
  it.each(BAD)('rejects %s with a ConfigError naming the option', (_what, input, path, fragment) => {
    let error: unknown;
    try {
      resolveOptions(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).message).toContain(fragment);
  });

  it('leaves active checks off, and outlier detection, breakers and the panic threshold on, by default', () => {
    const config = resolveOptions({});
    expect(config.healthCheck).toBe(false);
    expect(config.outlierDetection).toEqual({
      consecutive5xx: 5,
      consecutiveConnectFailure: 5,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 10,
      unejectOnPassingCheck: true,
      interval: 10_000,
    });
    expect(config.panicThreshold).toBe(50);
    expect(config.circuitBreaker).toEqual({
      errorThresholdPercentage: 50,
      volumeThreshold: 20,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
      resetTimeout: 30_000,
      halfOpenProbes: 1,
      successThreshold: 1,
      halfOpenOnPassingCheck: true,
      failureStatuses: [[500, 599]],
    });
  });

  it('fills health check defaults like HAProxy (rise 2, fall 3) and parses durations', () => {
    const config = resolveOptions({ healthCheck: { interval: '10s', unhealthyInterval: '30s' } });
    expect(config.healthCheck).toEqual({
      path: '/health',
      method: 'GET',
      interval: 10_000,
      unhealthyInterval: 30_000,
      timeout: 2000,
      expectedStatus: [[200, 399]],
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      jitter: 0.1,
      phiAccrual: false,
    });
  });

  it('accepts phi-accrual options with Akka-like defaults', () => {
    const config = resolveOptions({ healthCheck: { phiAccrual: { acceptablePause: '3s' } } });
    expect(config.healthCheck ? config.healthCheck.phiAccrual : undefined).toEqual({
      threshold: 8,
      minStdDeviation: 100,
      acceptablePause: 3000,
      maxSampleSize: 1000,
    });
  });

  it('turns features off with false', () => {
    const config = resolveOptions({
      healthCheck: false,
      outlierDetection: false,
      circuitBreaker: false,
      panicThreshold: 0,
    });
    expect([config.healthCheck, config.outlierDetection, config.circuitBreaker, config.panicThreshold]).toEqual([
      false,
      false,
      false,
      0,
    ]);
  });

  it('does not mutate the options it is given', () => {
    const input = { circuitBreaker: { resetTimeout: '5s', failureStatuses: [503] } };
    const copy = structuredClone(input);
    circuitBreakerSchema.parse(input.circuitBreaker);
    resolveOptions(input);
    expect(input).toEqual(copy);
  });
});
