import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer, type SwitchyardEvents } from '../../src/index.js';
import { type Listening, listen } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { sendRaw } from './rig.js';

let lb: LoadBalancer | undefined;
let front: Listening | undefined;
afterEach(async () => {
  await front?.close();
  await lb?.close();
  lb = undefined;
  front = undefined;
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.each(FORWARDERS)('error responses ($name)', ({ options }) => {
  it('answers a refused connection with a generic 502 body, the cause in events only', async () => {
    const port = await closedPort();
    lb = createLoadBalancer({ ...options, retry: false, backends: [{ url: `http://127.0.0.1:${port}` }] });
    const errors: Array<SwitchyardEvents['upstream:error']> = [];
    lb.on('upstream:error', (e) => errors.push(e));
    front = await listen(lb.handler);
    const res = await sendRaw(front.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(502);
    expect(JSON.parse(res.rest)).toEqual({
      error: { code: 'ERR_UPSTREAM_CONNECT', message: 'the backend could not be reached' },
    });
    expect(res.raw).not.toContain('127.0.0.1');
    expect(res.raw).not.toContain(String(port));
    expect(errors[0]).toMatchObject({
      backend: `127.0.0.1:${port}`,
      code: 'ERR_UPSTREAM_CONNECT',
      cause: 'ECONNREFUSED',
      syscall: 'connect',
    });
  });

  it('answers an upgrade to a refused backend with a generic 502 too', async () => {
    const port = await closedPort();
    lb = createLoadBalancer({ ...options, backends: [{ url: `http://127.0.0.1:${port}` }] });
    front = await listen(lb.handler);
    front.server.on('upgrade', lb.upgrade);
    const res = await sendRaw(
      front.port,
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(res.status).toBe(502);
    expect(JSON.parse(res.rest)).toEqual({
      error: { code: 'ERR_UPSTREAM_CONNECT', message: 'the backend could not be reached' },
    });
    expect(res.raw).not.toContain(String(port));
  });

  it('answers an unresolvable backend with a generic 502, ENOTFOUND in events', async () => {
    lb = createLoadBalancer({
      ...options,
      retry: false,
      backends: [{ id: 'nx', url: 'http://nonexistent.invalid:80' }],
    });
    const errors: Array<SwitchyardEvents['upstream:error']> = [];
    lb.on('upstream:error', (e) => errors.push(e));
    front = await listen(lb.handler);
    const res = await sendRaw(front.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 5000);
    expect(res.status).toBe(502);
    expect(res.raw).not.toContain('nonexistent');
    expect(errors[0]).toMatchObject({ backend: 'nx', syscall: 'getaddrinfo' });
    expect(errors[0]?.cause).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/);
  });
});
