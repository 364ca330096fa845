/**
 * The balancer as Express middleware under `/api`: the backends see the path
 * below the mount point (`/api/users` arrives as `/users`). Mount it before
 * any body parser, which would read the body the balancer must stream.
 *
 *   npx tsx examples/express.ts
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLoadBalancer } from 'switchyard-lb';
import { createLoopbackBackend } from 'switchyard-lb/testing';

const users = await createLoopbackBackend({ id: 'users' });
const lb = createLoadBalancer({ backends: [{ id: 'users', url: users.url }] });

const app = express();
app.use('/api', lb.express());
app.use(express.json()); // after the balancer: only routes below read parsed bodies
app.post('/local', (req, res) => {
  res.json({ local: true, got: req.body });
});

const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const proxied = await fetch(`${base}/api/users?page=2`);
console.log('proxied', proxied.status, JSON.stringify(await proxied.json()));
const posted = await fetch(`${base}/api/users`, { method: 'POST', body: '{"name":"ada"}' });
console.log('posted', posted.status, users.requests.at(-1)?.body.toString());
const local = await fetch(`${base}/local`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"x":1}',
});
console.log('local', local.status, JSON.stringify(await local.json()));

server.close();
await lb.close();
await users.close();
