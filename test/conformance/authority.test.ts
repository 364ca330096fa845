import parseForwarded from 'forwarded-parse';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { FORWARDERS } from './forwarders.js';
import { header } from './raw-backend.js';
import { type Rig, rig } from './rig.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const get = (target: string, host = 'victim.example') =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

describe.each(FORWARDERS)('request targets and Host ($name)', ({ options }) => {
  it.each([
    'a b',
    'user@evil',
    'victim/x',
    'victim.example:99999',
    'victim.example:',
    'victim.example:8o',
    '[::1',
    'a\\b',
    '',
  ])('refuses Host %j with 400 and forwards nothing', async (host) => {
    r = await rig(options);
    const res = await r.send(get('/page', host));
    expect(res.status).toBe(400);
    expect(r.backend.requests).toEqual([]);
  });

  it('refuses two Host lines', async () => {
    r = await rig(options);
    const res = await r.send('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(400);
    expect(r.backend.requests).toEqual([]);
  });

  it.each(['*', 'page', 'http://user@evil/page', 'ftp://evil/page', 'http:///page'])(
    'refuses the request target %j with 400',
    async (target) => {
      r = await rig(options);
      expect((await r.send(get(target))).status).toBe(400);
      expect(r.backend.requests).toEqual([]);
    },
  );

  it('forwards the raw path, not a normalised one', async () => {
    r = await rig(options);
    await r.send(get('//private/./data/%2e%2e/x?q=1'));
    expect(r.backend.requests[0]?.target).toBe('//private/./data/%2e%2e/x?q=1');
  });

  it('lets an absolute-form authority replace Host for the backend, Forwarded and X-Forwarded-Host', async () => {
    r = await rig(options);
    const hosts: Array<string | undefined> = [];
    r.lb.on('request', (e) => hosts.push(e.host));
    await r.send(get('http://Evil.example:8080/page?x=1'));
    const seen = r.backend.requests[0];
    await until(() => hosts.length === 1);
    expect(hosts).toEqual(['evil.example:8080']);
    expect(seen?.target).toBe('/page?x=1');
    expect(header(seen, 'host')).toBe('evil.example:8080');
    expect(header(seen, 'x-forwarded-host')).toBe('evil.example:8080');
    expect(parseForwarded(header(seen, 'forwarded') as string)).toEqual([
      { for: '127.0.0.1', proto: 'http', host: 'evil.example:8080' },
    ]);
  });

  it('caches an absolute-form response under the authority the backend saw (no poisoning)', async () => {
    r = await rig(
      options,
      { cache: { ttl: 60_000 } },
      (q) =>
        `HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: ${header(q, 'host')?.length}\r\n\r\n${header(q, 'host')}`,
    );
    const keys: string[] = [];
    r.lb.on('cache', (e) => keys.push(e.key));
    await r.send(get('http://evil.example/page'));
    const victim = await r.send(get('/page'));
    expect(victim.rest).toBe('victim.example');
    expect(keys[0]).toBe('evil.example/page');
    expect(r.backend.requests.map((q) => header(q, 'host'))).toEqual(['evil.example', 'victim.example']);
  });

  it('replaces client X-Forwarded-* and Forwarded from an untrusted peer, and extends Via', async () => {
    r = await rig(options);
    await r.send(
      'GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\nVia: 1.0 other\r\nConnection: close\r\n\r\n',
    );
    const seen = r.backend.requests[0];
    expect(header(seen, 'x-forwarded-for')).toBe('127.0.0.1');
    expect(header(seen, 'x-forwarded-host')).toBe('[::1]:8080');
    expect(header(seen, 'x-forwarded-proto')).toBe('http');
    expect(parseForwarded(header(seen, 'forwarded') as string)).toEqual([
      { for: '127.0.0.1', proto: 'http', host: '[::1]:8080' },
    ]);
    expect(header(seen, 'via')).toBe('1.0 other, 1.1 switchyard');
  });

  it('keys rate-limit routes on the normalised path', async () => {
    r = await rig(options, { rateLimit: { points: 1, duration: 60_000, key: { route: ['/private'] } } });
    const statuses: number[] = [];
    for (const target of ['/private/data', '//private/data', '/\\private/data', '/%2e/private/data', '/x/../private'])
      statuses.push((await r.send(get(target))).status);
    expect(statuses).toEqual([200, 429, 429, 429, 429]);
  });

  it('applies cache exclusions to the normalised path', async () => {
    r = await rig(options, { cache: { ttl: 60_000, exclude: ['/private'] } }, () => CACHEABLE);
    for (const target of ['//private/data', '//private/data', '/\\private/data', '/\\private/data', '/%2Fprivate/data'])
      await r.send(get(target));
    expect(r.backend.requests).toHaveLength(5);
  });

  it('still caches a path no exclusion covers', async () => {
    r = await rig(options, { cache: { ttl: 60_000, exclude: ['/private'] } }, () => CACHEABLE);
    await r.send(get('/public'));
    await r.send(get('/public'));
    expect(r.backend.requests).toHaveLength(1);
  });
});

const CACHEABLE = 'HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok';
