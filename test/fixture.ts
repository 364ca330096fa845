import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { type Listening, listen } from './helpers.js';

export interface Fixture {
  lb: LoadBalancer;
  front: Listening;
  backends: TestBackend[];
  close(): Promise<void>;
}

/** In-memory backends `ids`, a balancer in front of them, and a loopback server mounting it. */
export async function setup(ids: string[], options: Omit<LoadBalancerOptions, 'backends'> = {}): Promise<Fixture> {
  const backends = ids.map((id) => createMemoryBackend({ id }));
  const lb = createLoadBalancer({ strategy: 'round-robin', ...options, backends: backends.map((b) => b.config) });
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
