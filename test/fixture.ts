import { afterEach, vi } from 'vitest';
import { type BackendOptions, createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/index.js';
import { createMemoryBackend, type TestBackend } from '../src/testing/index.js';
import { forwarderOptions } from './conformance/forwarders.js';
import { type Listening, listen } from './helpers.js';

export interface Fixture extends Mounted {
  backends: TestBackend[];
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
  return { ...(await mount(lb, backends)), backends };
}

/** A balancer mounted on a loopback server, and what its `close()` closes. */
export interface Mounted {
  lb: LoadBalancer;
  front: Listening;
  /** Closes the server, then the balancer, then the backends (together). */
  close(): Promise<void>;
}

/** Mounts `lb` on a loopback server (upgrades included); `close()` also closes `backends`. */
export async function mount(
  lb: LoadBalancer,
  backends: ReadonlyArray<{ close(): Promise<unknown> }>,
): Promise<Mounted> {
  const front = await listen(lb.handler);
  front.server.on('upgrade', lb.upgrade);
  return {
    lb,
    front,
    async close() {
      await front.close();
      await lb.close();
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

/**
 * Registers an `afterEach` for the calling file: real timers come back (a test
 * may have faked them), then every fixture handed to the returned `track` since
 * the last test closes, newest first. `track` returns its argument.
 */
export function closeAfterEach(): <F extends Mounted>(fixture: F) => F {
  const open: Mounted[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const fixture of open.splice(0).reverse()) await fixture.close();
  });
  return (fixture) => {
    open.push(fixture);
    return fixture;
  };
}
