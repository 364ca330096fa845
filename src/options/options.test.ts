import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../balancer.js';
import { ConfigError } from '../core/errors.js';
import type { SelectionContext, Strategy } from '../core/strategy.js';
import type { LoadBalancerOptions } from './options.js';
import { resolveOptions } from './options.js';

const ok = { url: 'http://127.0.0.1:9001' };

/** [what, options, expected path, a fragment of the message] */
const BAD: Array<[string, unknown, string, string]> = [
  ['a backend URL that does not parse', { backends: [{ url: 'not a url' }] }, 'backends[0].url', 'absolute http'],
  ['a backend URL with another scheme', { backends: [{ url: 'ftp://10.0.0.1' }] }, 'backends[0].url', 'http://'],
  ['a backend URL with credentials', { backends: [{ url: 'http://u:p@10.0.0.1' }] }, 'backends[0].url', 'credentials'],
  ['a backend without a URL', { backends: [{ weight: 1 }] }, 'backends[0].url', ''],
  ['a negative weight', { backends: [ok, { url: 'http://127.0.0.1:9002', weight: -1 }] }, 'backends[1].weight', '-1'],
  ['a zero weight', { backends: [{ ...ok, weight: 0 }] }, 'backends[0].weight', ''],
  ['a non-numeric weight', { backends: [{ ...ok, weight: '3' }] }, 'backends[0].weight', '"3"'],
  ['a fractional maxConnections', { backends: [{ ...ok, maxConnections: 1.5 }] }, 'backends[0].maxConnections', ''],
  ['an unknown strategy', { backends: [ok], strategy: 'fastest-please' }, 'strategy', 'fastest-please'],
  [
    'duplicate backend ids',
    {
      backends: [
        { ...ok, id: 'a' },
        { url: 'http://127.0.0.1:9002', id: 'a' },
      ],
    },
    'backends[1].id',
    '"a"',
  ],
  [
    'duplicate backend hosts without ids',
    { backends: [ok, { url: 'http://127.0.0.1:9001/v2' }] },
    'backends[1].id',
    '',
  ],
  ['an id with spaces', { backends: [{ ...ok, id: 'a b' }] }, 'backends[0].id', ''],
  ['a duration with an unknown unit', { timeouts: { connect: '5 parsecs' } }, 'timeouts.connect', "'250ms'"],
  ['a negative duration', { timeouts: { response: -5 } }, 'timeouts.response', '-5'],
  ['a duration of the wrong type', { drainTimeout: true }, 'drainTimeout', 'duration'],
  ['an unknown top-level key', { backends: [ok], stratgy: 'round-robin' }, 'stratgy', 'unknown'],
  ['an unknown backend key', { backends: [{ ...ok, wieght: 2 }] }, 'backends[0].wieght', 'unknown'],
  ['retry attempts of zero', { retry: { attempts: 0 } }, 'retry.attempts', ''],
  ['a retry status outside 4xx-5xx', { retry: { statuses: [302] } }, 'retry.statuses[0]', ''],
  ['a bad trustProxy CIDR', { trustProxy: ['10.0.0.0/33'] }, 'trustProxy[0]', 'CIDR'],
  ['a trustProxy string', { trustProxy: 'yes' }, 'trustProxy', 'hop count'],
  ['a middleware without handle', { middleware: [{ name: 'x' }] }, 'middleware[0].handle', 'function'],
  [
    'a middleware anchored to an unknown stage',
    { middleware: [{ name: 'x', before: 'nowhere', handle: async () => {} }] },
    'middleware[0].before',
    '',
  ],
  ['options that are not an object', 42, '', 'object'],
  [
    'a cluster heartbeat below 50 ms',
    { redis: 'redis://127.0.0.1:1', cluster: { heartbeat: 10 } },
    'cluster.heartbeat',
    '50 ms',
  ],
  [
    'a health quorum that is neither a count nor majority',
    { redis: 'redis://127.0.0.1:1', cluster: { health: { quorum: 0 } } },
    'cluster.health.quorum',
    '',
  ],
  [
    'a rollout lease under 300 ms',
    { redis: 'redis://127.0.0.1:1', cluster: { rollouts: { leaseTtl: '100ms' } } },
    'cluster.rollouts.leaseTtl',
    '300 ms',
  ],
  [
    'outageInstances of zero',
    { rateLimit: { points: 1, duration: '1s', outageInstances: 0 } },
    'rateLimit.outageInstances',
    '',
  ],
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('createLoadBalancer options', () => {
  it.each(BAD)('throws ConfigError for %s', (_what, options, path, fragment) => {
    let caught: unknown;
    try {
      createLoadBalancer(options as LoadBalancerOptions);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.path).toBe(path);
    expect(error.code).toBe('ERR_CONFIG');
    // An absent option is "missing"; a bad one is quoted back.
    expect(error.message).toMatch(new RegExp(`^Invalid option ${escapeRegExp(path || '(root)')}: (got |missing, )`));
    expect(error.message).not.toContain('got undefined');
    expect(error.message).toContain(fragment);
  });

  it('resolves defaults with ?? and leaves the caller options untouched', () => {
    const input = { backends: [{ url: 'http://127.0.0.1:9001', weight: 2 }], timeouts: { connect: '250ms' } };
    const copy = structuredClone(input);
    const resolved = resolveOptions(input);
    expect(input).toEqual(copy);
    expect(resolved.timeouts).toEqual({ connect: 250, response: 60_000, idle: 60_000 });
    expect(resolved.retry).toMatchObject({ attempts: 2, statuses: [502, 503, 504] });
    expect(resolved.trustProxy).toBe(false);
    expect(resolved.connectionPool.idleTimeout).toBe(4000);
  });

  it('never freezes objects the caller keeps using, such as a stateful strategy literal', async () => {
    let turns = 0;
    const strategy: Strategy & { next: number } = {
      name: 'counting',
      next: 0,
      pick(candidates) {
        turns++;
        this.next = (this.next + 1) % candidates.length;
        return candidates[this.next];
      },
    };
    const lb = createLoadBalancer({ backends: [ok], strategy });
    expect(Object.isFrozen(lb.config)).toBe(true);
    expect(Object.isFrozen(strategy)).toBe(false);
    strategy.pick([{ id: 'x', weight: 1, effectiveWeight: 1, active: 0 }], {} as SelectionContext);
    expect(turns).toBe(1);
    await lb.close();
  });

  it('freezes the resolved config', async () => {
    const lb = createLoadBalancer({ backends: [ok] });
    expect(Object.isFrozen(lb.config)).toBe(true);
    expect(Object.isFrozen(lb.config.timeouts)).toBe(true);
    await lb.close();
  });

  it('accepts retry: false and trustProxy as hops or CIDRs', async () => {
    const forms: LoadBalancerOptions['trustProxy'][] = [1, ['10.0.0.0/8', '::1', 'loopback'], true];
    for (const trustProxy of forms) {
      const lb = createLoadBalancer({ backends: [ok], retry: false, trustProxy });
      expect(lb.config.trustProxy).toEqual(trustProxy);
      expect(lb.pipeline).not.toContain('retry');
      await lb.close();
    }
  });
});

describe('a rejected configuration', () => {
  it('leaves nothing holding the process when a backend option fails after Redis and health checks are configured', () => {
    // In a child process: it must exit by itself once the ConfigError is caught.
    const index = pathToFileURL(fileURLToPath(new URL('../index.ts', import.meta.url))).href;
    const script = `
      import { createLoadBalancer, ConfigError } from ${JSON.stringify(index)};
      try {
        createLoadBalancer({
          redis: 'redis://127.0.0.1:6379',
          healthCheck: { interval: '5s' },
          backends: [{ id: 'a', url: 'http://127.0.0.1:9001' }, { id: 'a', url: 'http://127.0.0.1:9002' }],
        });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.log('rejected', error.path);
      }`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(child.stdout.trim()).toBe('rejected backends[1].id');
    expect(child.signal).toBeNull(); // not killed by the timeout: nothing kept it alive
    expect(child.status).toBe(0);
  });
});
