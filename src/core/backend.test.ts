import { Agent } from 'node:http';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { Backend } from './backend.js';

function lazyBackend() {
  const made: Pool[] = [];
  const backend = new Backend({
    id: 'b',
    url: new URL('http://127.0.0.1:9'),
    weight: 1,
    maxConnections: Number.POSITIVE_INFINITY,
    agent: new Agent(),
    dispatcher: () => {
      const pool = new Pool('http://127.0.0.1:9');
      made.push(pool);
      return pool;
    },
  });
  return { backend, made };
}

describe('Backend dispatcher', () => {
  it('makes its undici pool on first use, once, and counting connections never makes one', async () => {
    const { backend, made } = lazyBackend();
    expect(backend.connections()).toEqual({ busy: 0, idle: 0 });
    expect(made).toHaveLength(0);
    const pool = backend.dispatcher;
    expect(made).toEqual([pool]);
    expect(backend.dispatcher).toBe(pool);
    expect(made).toHaveLength(1);
    await backend.closeDispatcher();
    expect(pool?.destroyed).toBe(true);
  });

  it('makes no pool after it was closed', async () => {
    const { backend, made } = lazyBackend();
    await backend.closeDispatcher();
    expect(backend.dispatcher).toBeUndefined();
    expect(made).toHaveLength(0);
  });
});
