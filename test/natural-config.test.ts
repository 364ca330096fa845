import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { configError } from './helpers.js';

/**
 * Natural configurations work, and a ConfigError never blames an option the
 * user did not give (no "got undefined" about a default).
 */
let lb: LoadBalancer | undefined;
afterEach(async () => {
  await lb?.close();
  lb = undefined;
});

const backends = [{ url: 'http://127.0.0.1:1' }];

function build(options: Omit<LoadBalancerOptions, 'backends'>): LoadBalancer {
  lb = createLoadBalancer({ backends, ...options });
  return lb;
}

describe('natural configurations', () => {
  for (const interval of ['100ms', '1s', '1500ms', '2s', '5s', '1m'] as const) {
    it(`accepts healthCheck { path, interval: '${interval}' } with no timeout`, () => {
      expect(() => build({ healthCheck: { path: '/health', interval } })).not.toThrow();
    });
  }

  it('defaults the check timeout to the smaller of 2 s and the shortest interval', async () => {
    const { healthCheckSchema } = await import('../src/upstream/health/options.js');
    expect(healthCheckSchema.parse({ interval: '1s' }).timeout).toBe(1000);
    expect(healthCheckSchema.parse({ interval: '10s' }).timeout).toBe(2000);
    expect(healthCheckSchema.parse({ interval: '10s', unhealthyInterval: '500ms' }).timeout).toBe(500);
    expect(healthCheckSchema.parse({ interval: '10s', timeout: '3s' }).timeout).toBe(3000);
  });

  it("runs the README's own configure() samples", () => {
    const balancer = build({});
    expect(() =>
      balancer.configure({ healthCheck: { interval: '1s' }, circuitBreaker: false, panicThreshold: 30 }),
    ).not.toThrow();
    expect(() =>
      balancer.configure({
        strategy: 'least-connections',
        retry: { attempts: 3 },
        rateLimit: { points: 100, duration: '1s' },
      }),
    ).not.toThrow();
  });

  it('takes a long baseEjectionTime without a maxEjectionTime', () => {
    expect(() => build({ outlierDetection: { baseEjectionTime: '10m' } })).not.toThrow();
  });

  it('takes a small cache maxBytes without a maxEntryBytes', () => {
    expect(() => build({ cache: { ttl: '1m', maxBytes: 1000 } })).not.toThrow();
  });
});

describe('type errors read as English', () => {
  it('says "an object" for a backend given as a bare URL string', () => {
    const error = configError(() => createLoadBalancer({ backends: ['http://127.0.0.1:1'] as never }));
    expect(error.path).toBe('backends[0]');
    expect(error.message).toContain('expected an object');
  });

  it('says "a string" for a backend url given as a number', () => {
    const error = configError(() => createLoadBalancer({ backends: [{ url: 8080 as never }] }));
    expect(error.message).toContain('expected a string');
  });
});

describe('cross-field errors name the option the user gave', () => {
  it('blames a given health check timeout longer than the interval', () => {
    const error = configError(() => build({ healthCheck: { interval: '1s', timeout: '3s' } }));
    expect(error.path).toBe('healthCheck.timeout');
    expect(error.message).toContain('got "3s"');
  });

  it('blames rollingCountTimeout, not the bucket count the user never gave', () => {
    const error = configError(() => build({ circuitBreaker: { rollingCountTimeout: 155 } }));
    expect(error.path).toBe('circuitBreaker.rollingCountTimeout');
    expect(error.message).not.toContain('undefined');
  });

  it('says "missing", never "got undefined", for an option that is required and absent', () => {
    const error = configError(() => build({ rateLimit: { key: 'ip' } as never }));
    expect(error.message).toContain('missing');
    expect(error.message).not.toContain('undefined');
  });

  it('never says "got undefined" for any single-option mistake in a sample of bad options', () => {
    const bad: Array<Omit<LoadBalancerOptions, 'backends'>> = [
      { healthCheck: { interval: '1s', unhealthyInterval: '500ms', timeout: '800ms' } },
      { outlierDetection: { baseEjectionTime: '10s', maxEjectionTime: '1s' } },
      { circuitBreaker: { rollingCountTimeout: 1000, rollingCountBuckets: 7 } },
      { cache: { ttl: '1m', maxBytes: 1000, maxEntryBytes: 2000 } },
      { rateLimit: { points: 10 } as never },
      { hedge: { delay: '10ms' }, retry: false },
    ];
    for (const options of bad) {
      const error = configError(() => build(options));
      expect(error.message, JSON.stringify(options)).not.toContain('undefined');
    }
  });
});
