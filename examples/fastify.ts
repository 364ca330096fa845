/**
 * The balancer inside a Fastify app, keeping the raw body. Fastify parses
 * bodies before route handlers run, and a parsed body is gone for the
 * balancer; so hand the request over in an `onRequest` hook (it runs before
 * any parsing) of an encapsulated plugin, and `reply.hijack()` so Fastify
 * leaves the response alone. Routes outside the plugin keep Fastify's parsers.
 *
 *   npx tsx examples/fastify.ts
 */
import Fastify from 'fastify';
import { createLoadBalancer } from 'switchyard-lb';
import { createLoopbackBackend } from 'switchyard-lb/testing';

const api = await createLoopbackBackend({ id: 'api' });
const lb = createLoadBalancer({ backends: [{ id: 'api', url: api.url }] });

const app = Fastify();
await app.register(
  async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      reply.hijack(); // Fastify skips its parsers, later hooks and the route handler
      await lb.handler(request.raw, reply.raw);
    });
    // A route is needed for the hook to run; it never answers.
    scope.all('/*', () => {});
  },
  { prefix: '/api' },
);
app.post('/local', async (request) => ({ local: true, got: request.body }));

const base = await app.listen({ port: 0, host: '127.0.0.1' });

const body = '{"name":"ada","raw":true}';
const proxied = await fetch(`${base}/api/users`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body,
});
const received = api.requests.at(-1);
console.log('proxied', proxied.status, received?.url, received?.body.toString() === body ? 'body intact' : 'body LOST');
const local = await fetch(`${base}/local`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"x":1}',
});
console.log('local', local.status, JSON.stringify(await local.json()));

await app.close();
await lb.close();
await api.close();
