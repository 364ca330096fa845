/**
 * A balancer on a plain `node:http` server in front of two services.
 *
 *   npx tsx examples/http.ts
 *
 * The two "services" are stand-ins from switchyard-lb/testing on loopback
 * ports; in your code they are the URLs of your real backends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLoadBalancer } from 'switchyard-lb';
import { createLoopbackBackend } from 'switchyard-lb/testing';

const [a, b] = await Promise.all([createLoopbackBackend({ id: 'a' }), createLoopbackBackend({ id: 'b' })]);

const lb = createLoadBalancer({
  backends: [
    { id: 'a', url: a.url, weight: 1 },
    { id: 'b', url: b.url, weight: 1 },
  ],
  strategy: 'round-robin',
  timeouts: { connect: '2s', response: '10s' },
});

const server = http.createServer(lb.handler);
server.on('upgrade', lb.upgrade); // WebSockets too
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

for (let i = 0; i < 4; i++) {
  const res = await fetch(`${base}/hello?i=${i}`);
  const body = (await res.json()) as { backend: string; url: string };
  console.log(res.status, body.backend, body.url);
}

server.close();
await lb.close();
await Promise.all([a.close(), b.close()]);
