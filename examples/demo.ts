/**
 * switchyard demo: a balancer on port 8080 (or $PORT) in front of three demo
 * backends on loopback. Try it with curl; each request prints the backend that
 * answered. Ctrl-C stops everything cleanly.
 *
 *   npm run demo
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLoadBalancer } from 'switchyard-lb';

const port = Number(process.env.PORT ?? 8080);
const names = ['alpha', 'bravo', 'charlie'];

function startBackend(name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = `${JSON.stringify({ backend: name, method: req.method, url: req.url })}\n`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const servers = await Promise.all(names.map(startBackend));
const lb = createLoadBalancer({
  backends: servers.map((server, i) => ({
    id: names[i],
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  })),
  strategy: 'round-robin',
});

lb.on('request', ({ method, backend, status, durationMs }) => {
  console.log(`${method} -> ${backend ?? '(none)'} ${status} ${durationMs.toFixed(1)} ms`);
});

const front = http.createServer(lb.handler);
front.on('upgrade', lb.upgrade);
front.on('error', (error: NodeJS.ErrnoException) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=8081 npm run demo` : error);
  process.exit(1);
});
front.listen(port, '127.0.0.1', () => {
  // PORT=0 picks a free port: print the one we got.
  const actual = (front.address() as AddressInfo).port;
  console.log(`switchyard demo: balancer on http://127.0.0.1:${actual} in front of ${names.join(', ')}`);
  for (const b of lb.backends()) console.log(`  backend ${b.id.padEnd(8)} ${b.url}`);
  console.log('\nTry it in another terminal:');
  console.log(`  curl http://127.0.0.1:${actual}/hello`);
  console.log(`  for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:${actual}/; done`);
  console.log('\nEach request prints the backend that answered. Ctrl-C to stop.\n');
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping: draining requests, closing connections...');
  front.close();
  front.closeIdleConnections();
  await lb.close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  console.log('stopped');
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
