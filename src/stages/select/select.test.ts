import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Backend } from '../../core/backend.js';
import { Context } from '../../core/context.js';
import { SwitchyardError } from '../../core/errors.js';
import type { Strategy } from '../../core/strategy.js';
import { Pool } from '../../upstream/pool/pool.js';
import { roundRobin } from '../../upstream/strategies/round-robin.js';
import type { StageDeps } from '../deps.js';
import { selectStage } from './index.js';

function setup(ids: string[]) {
  const strategy = roundRobin() as Strategy<Backend>;
  const pool = new Pool(strategy, () => 0);
  const backends = ids.map(
    (id) => new Backend({ id, url: new URL(`http://${id}.test`), weight: 1, maxConnections: 1, agent: new Agent() }),
  );
  for (const b of backends) pool.add(b);
  const deps = { pool, strategy, now: () => 0, queue: undefined } as unknown as StageDeps;
  const handle = selectStage.create(undefined, deps);
  const ctx = () =>
    new Context({ method: 'GET', headers: {} } as IncomingMessage, {} as ServerResponse, '/', '10.0.0.1', 0);
  return { pool, backends, handle, ctx };
}

describe('select stage', () => {
  it('picks an untried backend, counts the attempt and marks it tried', async () => {
    const { handle, ctx } = setup(['a', 'b']);
    const c = ctx();
    await handle.middleware?.(c, async () => {});
    expect(c.attempt).toBe(1);
    expect(c.backend?.id).toBeDefined();
    expect(c.tried.has(c.backend as Backend)).toBe(true);
  });

  it('takes the preferred backend while it is a candidate', async () => {
    const { handle, ctx, backends } = setup(['a', 'b', 'c']);
    for (let i = 0; i < 3; i++) {
      const c = ctx();
      c.preferred = backends[2];
      await handle.middleware?.(c, async () => {});
      expect(c.backend).toBe(backends[2]);
    }
  });

  it('refuses with ERR_NO_BACKEND when none is eligible, for requests and for upgrades alike', async () => {
    const { handle, ctx, pool, backends } = setup(['a']);
    pool.mark(backends[0] as Backend, { unhealthy: true });
    pool.panicThreshold = 0;
    for (const middleware of [handle.middleware, handle.upgrade]) {
      const error = await middleware?.(ctx(), async () => {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SwitchyardError);
      expect((error as SwitchyardError).code).toBe('ERR_NO_BACKEND');
    }
  });
});
