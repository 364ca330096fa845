/**
 * The balancer as Koa middleware: requests under `/api` go to the backends,
 * the rest stay with the Koa app. The balancer writes the response itself
 * (`ctx.respond = false`).
 *
 *   npx tsx examples/koa.ts
 */
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createLoadBalancer } from 'switchyard-lb';
import { createLoopbackBackend } from 'switchyard-lb/testing';

const api = await createLoopbackBackend({ id: 'api' });
const lb = createLoadBalancer({ backends: [{ id: 'api', url: api.url }] });
const proxy = lb.koa();

const app = new Koa();
app.use(async (ctx, next) => {
  if (ctx.path === '/api' || ctx.path.startsWith('/api/')) return proxy(ctx, next);
  await next();
});
app.use((ctx) => {
  ctx.body = { local: true, path: ctx.path };
});

const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const proxied = await fetch(`${base}/api/orders`);
console.log('proxied', proxied.status, JSON.stringify(await proxied.json()));
const local = await fetch(`${base}/about`);
console.log('local', local.status, JSON.stringify(await local.json()));

server.close();
await lb.close();
await api.close();
