import { describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../../balancer.js';
import { ConfigError } from '../../core/errors.js';
import type { LoadBalancerOptions } from '../../options/options.js';

const backends = [{ url: 'http://127.0.0.1:9001' }];

/** [what, options, expected path, a fragment of the message] */
const BAD: Array<[string, unknown, string, string]> = [
  ['zero attempts', { retry: { attempts: 0 } }, 'retry.attempts', '0'],
  ['an unknown retryOn reason', { retry: { retryOn: ['5xx'] } }, 'retry.retryOn[0]', ''],
  [
    'a backoff base above its max',
    { retry: { backoffBase: '1s', backoffMax: '250ms' } },
    'retry.backoffBase',
    'backoffMax',
  ],
  ['a negative buffer limit', { retry: { maxBufferBytes: -1 } }, 'retry.maxBufferBytes', '-1'],
  ['a budget percent above 100', { retry: { budget: { percent: 150 } } }, 'retry.budget.percent', '150'],
  [
    'a budget that allows nothing',
    { retry: { budget: { percent: 0, minRetriesPerSecond: 0 } } },
    'retry.budget.percent',
    'budget: false',
  ],
  ['a budget ttl under a second', { retry: { budget: { ttl: '100ms' } } }, 'retry.budget.ttl', '1s to 60s'],
  ['a negative hedge delay', { hedge: { delay: -5 } }, 'hedge.delay', '-5'],
  ['a hedge without a delay', { hedge: {} }, 'hedge.delay', ''],
  ['zero hedges', { hedge: { delay: 10, maxHedges: 0 } }, 'hedge.maxHedges', ''],
  ['hedging with retries off', { retry: false, hedge: { delay: 10 } }, 'hedge', 'retry enabled'],
  ['a negative total timeout', { timeouts: { total: -1 } }, 'timeouts.total', '-1'],
];

describe('retry and hedge options', () => {
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

  it('resolves Envoy-like defaults', async () => {
    const lb = createLoadBalancer({ backends });
    expect(lb.config.retry).toMatchObject({
      attempts: 2,
      retryOn: ['connect-failure', 'reset', 'timeout'],
      statuses: [502, 503, 504],
      backoffBase: 25,
      backoffMax: 250,
      retryAfterMax: 1000,
      bufferBody: true,
      maxBufferBytes: 65_536,
      budget: { percent: 20, minRetriesPerSecond: 10, ttl: 10_000 },
    });
    expect(lb.config.hedge).toBe(false);
    expect(lb.config.timeouts.total).toBeUndefined();
    await lb.close();
  });
});
