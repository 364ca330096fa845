import { describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../../balancer.js';
import { ConfigError } from '../../core/errors.js';
import type { LoadBalancerOptions } from '../../options/options.js';

const backends = [{ url: 'http://127.0.0.1:9001' }];

/** [what, options, expected path, a fragment of the message] */
const BAD: Array<[string, unknown, string, string]> = [
  ['a negative queue size', { queue: { maxSize: -1 } }, 'queue.maxSize', '-1'],
  ['a queue timeout that is not a duration', { queue: { timeout: 'soon' } }, 'queue.timeout', 'duration'],
  ['an unknown queue key', { queue: { size: 10 } }, 'queue.size', 'unknown'],
  [
    'minLimit above maxLimit',
    { adaptiveConcurrency: { minLimit: 50, maxLimit: 10, initialLimit: 10 } },
    'adaptiveConcurrency.minLimit',
    'maxLimit',
  ],
  [
    'an initial limit out of range',
    { adaptiveConcurrency: { initialLimit: 500 } },
    'adaptiveConcurrency.initialLimit',
    'minLimit to maxLimit',
  ],
  [
    'an unknown algorithm',
    { adaptiveConcurrency: { algorithm: 'aimd' } },
    'adaptiveConcurrency.algorithm',
    'gradient2',
  ],
  ['a smoothing of zero', { adaptiveConcurrency: { smoothing: 0 } }, 'adaptiveConcurrency.smoothing', ''],
];

describe('overload options', () => {
  it.each(BAD)('throws ConfigError for %s', (_what, options, path, fragment) => {
    let caught: unknown;
    try {
      createLoadBalancer({ backends, ...(options as LoadBalancerOptions) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).path).toBe(path);
    expect((caught as ConfigError).message).toContain(fragment);
  });

  it('queues by default and leaves adaptive concurrency off', async () => {
    const lb = createLoadBalancer({ backends });
    expect(lb.config.queue).toEqual({ maxSize: 1000, timeout: 5000 });
    expect(lb.config.adaptiveConcurrency).toBe(false);
    await lb.close();
  });

  it('resolves adaptive concurrency defaults', async () => {
    const lb = createLoadBalancer({ backends, adaptiveConcurrency: {} });
    expect(lb.config.adaptiveConcurrency).toMatchObject({
      algorithm: 'gradient2',
      initialLimit: 20,
      minLimit: 1,
      maxLimit: 200,
    });
    expect(lb.backends()[0]?.maxConnections).toBe(Number.POSITIVE_INFINITY);
    await lb.close();
  });
});
