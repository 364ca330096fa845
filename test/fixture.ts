import { type BackendOptions, createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { forwarderOptions } from './conformance/forwarders.js';
import { type Listening, listen } from './helpers.js';

export interface Fixture {
  lb: LoadBalancer;
  front: Listening;
  backends: TestBackend[];
  close(): Promise<void>;
}

/** In-memory backends `ids`, a balancer in front of them, and a loopback server mounting it. */
export function setup(ids: string[], options: Omit<LoadBalancerOptions, 'backends'> = {}): Promise<Fixture> {
  return serve(
    ids.map((id) => createMemoryBackend({ id })),
    options,
  );
}

/**
 * A round-robin balancer (unless `options` says otherwise) in front of
 * `backends`, mounted on a loopback server. `config` turns each backend into
 * its backend option (e.g. to add `maxConnections`).
 */
export async function serve<B extends TestBackend>(
  backends: B[],
  options: Omit<LoadBalancerOptions, 'backends'> = {},
  config: (backend: B) => BackendOptions = (backend) => backend.config,
): Promise<Fixture & { backends: B[] }> {
  const lb = createLoadBalancer({
    strategy: 'round-robin',
    ...forwarderOptions(),
    ...options,
    backends: backends.map(config),
  });
  const front = await listen(lb.handler);
  front.server.on('upgrade', lb.upgrade);
  return {
    lb,
    front,
    backends,
    async close() {
      await front.close();
      await lb.close();
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}
