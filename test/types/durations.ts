// Type tests, checked by `npm run typecheck` (tsc over test/): the line after
// each expect-error directive must fail to compile, or tsc reports the directive as unused.
import { createLoadBalancer, type Duration, type LoadBalancerOptions } from '../../src/index.ts';
import { createMemoryBackend } from '../../src/testing/index.ts';

const ok: Duration[] = [250, '250ms', '5s', '1.5m', '1h'];
// @ts-expect-error a unit must be ms, s, m or h
const words: Duration = '2 seconds';

const options: LoadBalancerOptions = {
  backends: [],
  healthCheck: { interval: '5s', timeout: 1000 },
  timeouts: { connect: '2s', response: '30s', total: '1m' },
  drainTimeout: '30s',
  retry: { backoffBase: '25ms', budget: { ttl: '10s' } },
  circuitBreaker: { resetTimeout: '30s' },
  outlierDetection: { baseEjectionTime: '30s' },
  slowStart: { window: '1m' },
  queue: { timeout: '5s' },
  cache: { ttl: '5m' },
  sticky: { ttl: '1h' },
  rateLimit: { points: 1, duration: '1s' },
};

createLoadBalancer({
  // @ts-expect-error durations in options are typed too
  healthCheck: { interval: '2 seconds' },
});
createLoadBalancer({ timeouts: { connect: '2s' } }).removeBackend('a', {
  // @ts-expect-error removeBackend's timeout too
  timeout: 'soon',
});
createMemoryBackend({ id: 'a' }).setLatency('200ms');
// @ts-expect-error and the test backends' latency
createMemoryBackend({ id: 'a' }).setLatency('a while');

export { ok, options, words };
