import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { createLoopbackBackend, type LoopbackBackend, type LoopbackBackendOptions } from './index.js';

interface Reply {
  status: number;
  body: string;
  reusedSocket: boolean;
}

/** One request; resolves with the whole response, rejects with the client's error. */
function send(url: string, options: http.RequestOptions & { body?: string } = {}): Promise<Reply> {
  const { body, ...rest } = options;
  return new Promise((resolve, reject) => {
    const req = http.request(url, rest, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves with the error of a plain TCP connect, or `null` when it connects. */
async function connectError(port: number): Promise<NodeJS.ErrnoException | null> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return null;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  } finally {
    socket.destroy();
  }
}

const backends: LoopbackBackend[] = [];
const agents: http.Agent[] = [];

async function backend(options: LoopbackBackendOptions): Promise<LoopbackBackend> {
  const created = await createLoopbackBackend(options);
  backends.push(created);
  return created;
}

function agentOf(target: LoopbackBackend): http.Agent {
  const agent = target.agent();
  agents.push(agent);
  return agent;
}

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

describe('createLoopbackBackend', () => {
  it('listens on an ephemeral loopback port and says so in its url and config', async () => {
    const l = await backend({ id: 'l' });

    expect(l.host).toBe('127.0.0.1');
    expect(l.port).toBeGreaterThan(0);
    expect(l.url).toBe(`http://127.0.0.1:${l.port}`);
    expect(l.config).toEqual({ id: 'l', url: l.url });
    expect(await connectError(l.port)).toBeNull();
  });

  it('rejects a host that is not an IP address', async () => {
    await expect(createLoopbackBackend({ id: 'l', host: 'localhost' })).rejects.toThrow(ConfigError);
  });

  it('answers with the default handler and records the request', async () => {
    const l = await backend({ id: 'l' });

    const reply = await send(`${l.url}/hello`, { method: 'POST', body: 'hi', agent: agentOf(l) });

    expect(JSON.parse(reply.body)).toEqual({ backend: 'l', method: 'POST', url: '/hello' });
    expect(l.requests).toHaveLength(1);
    expect(l.requests[0]).toMatchObject({ method: 'POST', url: '/hello', connectionId: 1 });
    expect(l.requests[0]?.body.toString()).toBe('hi');
  });

  it('answers with a custom handler and reuses keep-alive connections', async () => {
    const l = await backend({ id: 'l', handler: (req, res) => res.end(`custom ${req.url}`) });
    const agent = agentOf(l);

    const first = await send(`${l.url}/1`, { agent });
    const second = await send(`${l.url}/2`, { agent });

    expect([first.body, second.body]).toEqual(['custom /1', 'custom /2']);
    expect(second.reusedSocket).toBe(true);
    expect(l.connections).toBe(1);
  });

  it('applies status and fail switches as the memory backend does', async () => {
    const l = await backend({ id: 'l' });

    l.setStatus(502);
    await expect(send(l.url)).resolves.toMatchObject({ status: 502 });
    l.setStatus(null);
    await l.fail('reset');
    await expect(send(l.url)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await l.fail('garbage');
    await expect(send(l.url)).rejects.toMatchObject({ code: expect.stringMatching(/^HPE_/) });
  });

  it("refuses connections in 'refuse' mode and accepts them on the same port afterwards", async () => {
    const l = await backend({ id: 'l' });
    const { port } = l;

    await l.fail('refuse');
    const refused = await connectError(port);
    await l.fail(null);

    expect(refused?.code).toBe('ECONNREFUSED');
    expect(l.port).toBe(port);
    await expect(send(l.url)).resolves.toMatchObject({ status: 200 });
  });

  it('drops connections and refuses new ones while down, then listens on the same port when up', async () => {
    const l = await backend({ id: 'l' });
    const { port } = l;
    const agent = agentOf(l);
    await send(l.url, { agent });
    expect(l.openConnections).toBe(1);

    await l.down();

    expect(l.openConnections).toBe(0);
    await expect(send(l.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await l.up();

    expect(l.port).toBe(port);
    await expect(send(l.url)).resolves.toMatchObject({ status: 200 });
  });

  it('stops listening and drops connections on close', async () => {
    const l = await createLoopbackBackend({ id: 'l' });
    const agent = agentOf(l);
    await send(l.url, { agent });

    await l.close();

    expect(l.openConnections).toBe(0);
    expect((await connectError(l.port))?.code).toBe('ECONNREFUSED');
  });
});
