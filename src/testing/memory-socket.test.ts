import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemorySocket, type SocketEndpoint } from './memory-socket.js';

const CLIENT: SocketEndpoint = { address: '127.0.0.1', family: 'IPv4', port: 50_000 };
const SERVER: SocketEndpoint = { address: '127.0.0.1', family: 'IPv4', port: 80 };

function collect(socket: MemorySocket): { text: () => string } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { text: () => Buffer.concat(chunks).toString() };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('MemorySocket', () => {
  it('carries bytes both ways', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    const atServer = collect(server);
    const atClient = collect(client);

    client.write('ping');
    await once(server, 'data');
    server.write('pong');
    await once(client, 'data');

    expect(atServer.text()).toBe('ping');
    expect(atClient.text()).toBe('pong');
    expect(client.bytesWritten).toBe(4);
    expect(server.bytesRead).toBe(4);
  });

  it('reports addresses like a connected TCP socket', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);

    expect(client).toMatchObject({ localPort: 50_000, remoteAddress: '127.0.0.1', remotePort: 80 });
    expect(server).toMatchObject({ localPort: 80, remoteAddress: '127.0.0.1', remotePort: 50_000 });
    expect(server.address()).toEqual(SERVER);
    expect(client.connecting).toBe(false);
    expect(client.readyState).toBe('open');
    await once(client, 'connect');
  });

  it('delivers data written before end, then an orderly end that closes both sides', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    const atServer = collect(server);
    const serverClosed = once(server, 'close');
    const clientClosed = once(client, 'close');

    client.end('last words');
    await once(server, 'end');
    await Promise.all([serverClosed, clientClosed]);

    expect(atServer.text()).toBe('last words');
  });

  it('lets the peer read what was sent, then see end, when one side is destroyed', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    const atClient = collect(client);
    const clientEnded = once(client, 'end');

    const clientClosed = once(client, 'close');

    server.write('goodbye');
    server.destroy();
    await clientEnded;
    await clientClosed;

    expect(atClient.text()).toBe('goodbye');
  });

  it('tells an idle paused peer about the close', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);

    server.destroy();

    await once(client, 'close');
    expect(client.destroyed).toBe(true);
  });

  it('destroys the peer with ECONNRESET on resetAndDestroy', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    const failed = once(client, 'error');

    server.resetAndDestroy();
    const [error] = (await failed) as [NodeJS.ErrnoException];

    expect(error).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
    expect(client.destroyed).toBe(true);
  });

  it('holds a write until the peer reads, for backpressure', async () => {
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    const big = Buffer.alloc(server.readableHighWaterMark * 2);
    let written = false;

    client.write(big, () => {
      written = true;
    });
    await once(server, 'readable');
    expect(written).toBe(false);

    const drained = once(client, 'drain');
    expect(server.read()).toHaveLength(big.length);
    await drained;
    expect(written).toBe(true);
  });

  it('emits timeout after the idle time, restarting it on activity', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [client, server] = MemorySocket.pair(CLIENT, SERVER);
    server.resume();
    const onTimeout = vi.fn();
    client.setTimeout(100, onTimeout);

    vi.advanceTimersByTime(60);
    client.write('activity');
    await once(server, 'data');
    vi.advanceTimersByTime(60);
    expect(onTimeout).not.toHaveBeenCalled();

    vi.advanceTimersByTime(40);
    expect(onTimeout).toHaveBeenCalledOnce();
    expect(client.destroyed).toBe(false);
    expect(client.timeout).toBe(100);
  });

  it('stops timing out after setTimeout(0)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [client] = MemorySocket.pair(CLIENT, SERVER);
    const onTimeout = vi.fn();
    client.on('timeout', onTimeout);

    client.setTimeout(100);
    client.setTimeout(0);
    vi.advanceTimersByTime(1000);

    expect(onTimeout).not.toHaveBeenCalled();
  });

  it('fails a refused connection with ECONNREFUSED on the next tick', async () => {
    const socket = MemorySocket.refused(CLIENT, SERVER);
    expect(socket.connecting).toBe(true);
    expect(socket.readyState).toBe('opening');

    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];

    expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 80 });
    expect(error.message).toBe('connect ECONNREFUSED 127.0.0.1:80');
    expect(socket.destroyed).toBe(true);
  });

  it('answers the socket methods Node calls as no-ops that chain', () => {
    const [client] = MemorySocket.pair(CLIENT, SERVER);

    expect(client.setNoDelay(true).setKeepAlive(true, 1000).ref().unref()).toBe(client);
  });
});
