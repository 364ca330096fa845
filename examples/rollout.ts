/**
 * A health-gated rollout from v1 to v2, then a rollout of a bad v3 that the
 * gate stops and rolls back on its own. Traffic keeps flowing throughout.
 *
 *   npx tsx examples/rollout.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLoadBalancer } from 'switchyard-lb';
import { createMemoryBackend } from 'switchyard-lb/testing';

const v1 = [createMemoryBackend({ id: 'v1-a' }), createMemoryBackend({ id: 'v1-b' })];
const v2 = [createMemoryBackend({ id: 'v2-a' }), createMemoryBackend({ id: 'v2-b' })];
const v3 = [createMemoryBackend({ id: 'v3-a' }), createMemoryBackend({ id: 'v3-b' })];
for (const b of v3) b.setStatus(500); // a broken release

const lb = createLoadBalancer({ backends: v1.map((b) => b.config), retry: false });
lb.on('rollout:step', ({ batch, batches, added, removed }) =>
  console.log(`  step ${batch}/${batches}: +${added.join(',')} -${removed.join(',') || 'none'}`),
);

// Steady traffic, so the health gate has requests to judge.
const front = http.createServer(lb.handler);
await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
const port = (front.address() as AddressInfo).port;
let stop = false;
async function client(): Promise<void> {
  while (!stop) {
    await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.arrayBuffer(),
      () => undefined,
    );
  }
}
const traffic = Promise.all([client(), client(), client(), client()]); // four clients in a loop

// minRequests 0: judge whatever traffic the window saw; a failure above 5 % ends it at once.
const gate = { maxErrorRate: 0.05, minRequests: 0 };
const serving = () =>
  lb
    .backends()
    .map((b) => b.id)
    .join(', ');

console.log('rollout to v2');
const good = await lb.rollout({ backends: v2.map((b) => b.config), batchSize: 1, interval: '1s', healthGate: gate });
console.log(`  ${good.status}${good.reason ? ` (${good.reason})` : ''}; now serving ${serving()}`);

console.log('rollout to v3 (answers 500)');
// A long window: the first failed requests end it long before.
const bad = await lb.rollout({ backends: v3.map((b) => b.config), batchSize: 1, interval: '10s', healthGate: gate });
console.log(`  ${bad.status} (rolled back: ${bad.rolledBack}); now serving ${serving()}`);

stop = true;
await traffic;
front.close();
await lb.close();
await Promise.all([...v1, ...v2, ...v3].map((b) => b.close()));
