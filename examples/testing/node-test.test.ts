/**
 * The same kind of test with Node's own runner (`node:test`):
 *
 *   node --import tsx --test examples/testing/node-test.test.ts
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createLoadBalancer } from 'switchyard-lb';
import { createMemoryBackend } from 'switchyard-lb/testing';

const slow = createMemoryBackend({ id: 'slow' });
const fast = createMemoryBackend({ id: 'fast' });
const lb = createLoadBalancer({
  backends: [slow.config, fast.config],
  strategy: 'round-robin',
  timeouts: { response: '100ms' },
});
const server = http.createServer(lb.handler);

before(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
after(async () => {
  server.close();
  await lb.close();
  await Promise.all([slow.close(), fast.close()]);
});

test('a backend that never answers is given up on and the request retried elsewhere', async () => {
  await slow.fail('hang');
  const port = (server.address() as AddressInfo).port;
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/item/${i}`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { backend: string }).backend, 'fast');
  }
  assert.equal(fast.requests.length, 2);
});
