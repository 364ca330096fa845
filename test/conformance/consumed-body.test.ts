import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../../src/index.js';
import { type Listening, listen } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { header, type RawBackend, rawBackend } from './raw-backend.js';
import { sendRaw } from './rig.js';

let lb: LoadBalancer | undefined;
let front: Listening | undefined;
let backend: RawBackend | undefined;
afterEach(async () => {
  await front?.close();
  await lb?.close();
  await backend?.close();
  lb = undefined;
  front = undefined;
  backend = undefined;
});

async function expressRig(options: object): Promise<{ port: number; backend: RawBackend }> {
  backend = await rawBackend();
  lb = createLoadBalancer({ ...options, backends: [{ url: backend.url }] });
  const app = express();
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  app.use(express.text({ type: 'text/plain' }));
  app.use(express.raw({ type: 'application/octet-stream' }));
  app.use(lb.express());
  front = await listen(app as unknown as Parameters<typeof listen>[0]);
  return { port: front.port, backend };
}

const post = (type: string, body: string, framing = `Content-Length: ${Buffer.byteLength(body)}`) =>
  `POST /api HTTP/1.1\r\nHost: a\r\nContent-Type: ${type}\r\n${framing}\r\nConnection: close\r\n\r\n${body}`;

describe.each(FORWARDERS)('a body consumed before the balancer ($name)', ({ options }) => {
  it('re-sends a JSON body parsed by express.json(), with a correct Content-Length', async () => {
    const rig = await expressRig(options);
    const res = await sendRaw(rig.port, post('application/json', '{ "a": 1,  "b": "ü" }'));
    expect(res.status).toBe(200);
    const seen = rig.backend.requests[0];
    expect(JSON.parse(Buffer.from(seen?.body ?? '', 'latin1').toString('utf8'))).toEqual({ a: 1, b: 'ü' });
    expect(header(seen, 'content-length')).toBe(String(Buffer.byteLength(JSON.stringify({ a: 1, b: 'ü' }))));
    expect(rig.backend.malformed).toEqual([]);
  });

  it('re-sends a chunked JSON body with Content-Length framing', async () => {
    const rig = await expressRig(options);
    const res = await sendRaw(
      rig.port,
      post('application/json', '7\r\n{"a":1}\r\n0\r\n\r\n', 'Transfer-Encoding: chunked'),
    );
    expect(res.status).toBe(200);
    const seen = rig.backend.requests[0];
    expect(seen?.body).toBe('{"a":1}');
    expect(header(seen, 'transfer-encoding')).toBeUndefined();
    expect(header(seen, 'content-length')).toBe('7');
  });

  it('re-sends a urlencoded body', async () => {
    const rig = await expressRig(options);
    await sendRaw(rig.port, post('application/x-www-form-urlencoded', 'a=1&b=x%20y'));
    expect(rig.backend.requests[0]?.body).toBe('a=1&b=x%20y');
  });

  it('re-sends a text or raw body as read', async () => {
    const rig = await expressRig(options);
    await sendRaw(rig.port, post('text/plain', 'hello'));
    await sendRaw(rig.port, post('application/octet-stream', 'bytes'));
    expect(rig.backend.requests.map((q) => q.body)).toEqual(['hello', 'bytes']);
  });

  it('answers at once with ERR_BODY_CONSUMED when the body cannot be made again', async () => {
    backend = await rawBackend();
    lb = createLoadBalancer({ ...options, backends: [{ url: backend.url }] });
    const app = express();
    app.use((req, _res, next) => {
      req.resume();
      req.on('end', () => next());
    });
    app.use(lb.express());
    front = await listen(app as unknown as Parameters<typeof listen>[0]);
    const res = await sendRaw(front.port, post('image/png', 'png'));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.rest).error.code).toBe('ERR_BODY_CONSUMED');
    expect(backend.requests).toEqual([]);
  });
});
