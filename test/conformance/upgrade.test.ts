import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../../src/index.js';
import { mount } from '../fixture.js';
import { type Listening, listen, until } from '../helpers.js';
import { CLIENT_MESSAGE, failingBackend, HANDSHAKE_FAILURES } from './failing-backend.js';
import { FORWARDERS } from './forwarders.js';
import { OK } from './raw-backend.js';
import { type Rig, responseHeader, rig, sendRaw } from './rig.js';

let r: Rig | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await r?.close();
  r = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const smuggled = 'GET /admin HTTP/1.1\r\nHost: a\r\nX-Smuggled: yes\r\n\r\n';
const upgradeWithBody = (framing: string, body: string) =>
  `GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${framing}\r\n\r\n${body}`;
const upgrade =
  'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const NOT_UPGRADED = 'HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n\r\nnope';

describe.each(FORWARDERS)('upgrades ($name)', ({ options }) => {
  it.each([
    ['Content-Length', `Content-Length: ${smuggled.length}`, smuggled],
    ['chunked', 'Transfer-Encoding: chunked', `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`],
  ])('refuses an upgrade request with a %s body before anything goes upstream', async (_n, framing, body) => {
    r = await rig(options, {}, () => NOT_UPGRADED);
    const res = await r.send(upgradeWithBody(framing, body));
    expect(res.status).toBe(400);
    expect(r.backend.connections()).toBe(0);
    // The next client's request is read as itself, not as anyone's body.
    const next = await r.send('GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(next.status).toBe(426);
    expect(r.backend.requests.map((q) => q.target)).toEqual(['/next']);
    expect(r.backend.malformed).toEqual([]);
  });

  it('does not count a client that leaves before the handshake is answered against the backend, and reports its abort', async () => {
    r = await rig(options, {}, () => undefined);
    const upgrades: unknown[] = [];
    r.lb.on('upgrade', (e) => upgrades.push(e));
    const client = net.connect(r.front.port, '127.0.0.1');
    client.on('error', () => {});
    client.write(upgrade);
    await until(() => r?.backend.requests.length === 1);
    client.destroy();
    await until(() => r?.lb.backends()[0]?.active === 0 && upgrades.length === 1);
    expect(r.lb.backends()[0]).toMatchObject({ requests: 1, failures: 0, status: 'healthy' });
    // The client's abort, as for an ordinary request (499): never a tunnel that worked.
    expect(upgrades).toEqual([{ backend: expect.any(String), ok: false, error: 'ERR_CLIENT_ABORTED' }]);
  });

  it('relays a non-101 answer from a backend that answers on headers as an ordinary response, and never pools that socket', async () => {
    r = await rig(options, {}, (q) => (q.target === '/ws' ? NOT_UPGRADED : OK));
    const res = await r.send(upgrade);
    expect(res.status).toBe(426);
    expect(res.rest).toMatch(/nope/);
    const next = await r.send('GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(next.status).toBe(200);
    expect(r.backend.requests.map((q) => [q.target, q.connection])).toEqual([
      ['/ws', 0],
      ['/next', 1],
    ]);
    expect(r.backend.malformed).toEqual([]);
    await until(() => r?.lb.backends()[0]?.active === 0);
  });

  it('relays a non-101 answer without hop-by-hop headers, and a 204 without a body or framing', async () => {
    r = await rig(options, {}, (q) =>
      q.target === '/ws'
        ? 'HTTP/1.1 426 Upgrade Required\r\nConnection: X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nContent-Length: 4\r\n\r\nnope'
        : 'HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n',
    );
    const refused = await r.send(upgrade);
    expect(refused.status).toBe(426);
    expect(refused.headers.map(([k]) => k)).not.toContain('x-secret');
    expect(refused.headers.map(([k]) => k)).not.toContain('keep-alive');
    expect(refused.rest).toBe('nope');
    const empty = await r.send(upgrade.replace('GET /ws', 'GET /empty'));
    expect(empty.status).toBe(204);
    expect(empty.headers.map(([k]) => k)).not.toContain('transfer-encoding');
    expect(empty.headers.map(([k]) => k)).not.toContain('content-length');
    expect(empty.rest).toBe('');
  });

  it('keeps framing against a Node backend that answers the upgrade with 426', async () => {
    const seen: string[] = [];
    const node: Listening = await listen((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-smuggled'] ?? ''}`.trim());
      req.resume();
      res.writeHead(req.url === '/ws' ? 426 : 200, { 'content-length': '2' }).end('no');
    });
    const lb: LoadBalancer = createLoadBalancer({ ...options, backends: [{ url: node.url }] });
    const front = await listen(lb.handler);
    front.server.on('upgrade', lb.upgrade);
    cleanups.push(async () => {
      await front.close();
      await lb.close();
      await node.close();
    });
    expect((await sendRaw(front.port, upgradeWithBody(`Content-Length: ${smuggled.length}`, smuggled))).status).toBe(
      400,
    );
    expect((await sendRaw(front.port, upgrade)).status).toBe(426);
    const next = await sendRaw(front.port, 'GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(next.status).toBe(200);
    expect(seen).toEqual(['GET /ws', 'GET /next']);
  });

  it('answers 504 when the backend never answers the handshake, and frees the backend', async () => {
    r = await rig({ ...options, timeouts: { connect: 20, response: 30 } }, {}, () => undefined);
    const res = await r.send(upgrade);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.rest).error.code).toBe('ERR_UPSTREAM_TIMEOUT');
    await until(() => r?.lb.backends()[0]?.active === 0);
  });

  it.each(HANDSHAKE_FAILURES)(
    'answers $status $code, in the response and the upgrade event, when the backend $what',
    async ({ kind, status, code }) => {
      const backend = await failingBackend(kind);
      const lb = createLoadBalancer({
        ...options,
        backends: [{ id: 'b', url: backend.url }],
        timeouts: kind === 'silent' ? { connect: 20, response: 30 } : { connect: 1000, response: 5000 },
      });
      const mounted = await mount(lb, [backend]);
      cleanups.push(() => mounted.close());
      const upgrades: unknown[] = [];
      lb.on('upgrade', (e) => upgrades.push(e));
      const res = await sendRaw(mounted.front.port, upgrade, 5000);
      expect(res.status).toBe(status);
      expect(responseHeader(res, 'content-type')).toBe('application/json');
      // The code and a fixed sentence: no backend address, port or internal cause.
      expect(JSON.parse(res.rest)).toEqual({ error: { code, message: CLIENT_MESSAGE[code] } });
      expect(res.rest).not.toContain(String(backend.port));
      await until(() => upgrades.length === 1 && lb.backends()[0]?.active === 0);
      expect(upgrades).toEqual([{ backend: 'b', ok: false, error: code }]);
      expect(lb.backends()[0]?.failures).toBe(1);
    },
  );

  it('refuses an upgrade with an invalid Host or target', async () => {
    r = await rig(options);
    expect((await r.send(upgrade.replace('Host: a', 'Host: user@evil'))).status).toBe(400);
    expect((await r.send(upgrade.replace('GET /ws', 'GET ws'))).status).toBe(400);
    expect(r.backend.connections()).toBe(0);
  });
});

describe.each(FORWARDERS)('upgrade answers that cannot be relayed ($name)', ({ options }) => {
  it.each([
    ['a two-digit status', 'HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n'],
    ['a control character in the reason', 'HTTP/1.1 404 N\x01F\r\nContent-Length: 0\r\n\r\n'],
  ])('answers %s with a 502 ERR_UPSTREAM_PROTOCOL, never relayed as it came', async (_name, answer) => {
    r = await rig(options, {}, () => answer);
    const upgrades: unknown[] = [];
    r.lb.on('upgrade', (e) => upgrades.push(e));
    const res = await r.send(upgrade);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.rest)).toMatchObject({ error: { code: 'ERR_UPSTREAM_PROTOCOL' } });
    expect(res.raw).not.toContain('\x01');
    await until(() => upgrades.length === 1);
    expect(upgrades).toEqual([{ backend: expect.any(String), ok: false, error: 'ERR_UPSTREAM_PROTOCOL' }]);
  });
});
