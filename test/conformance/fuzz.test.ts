import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARDERS } from './forwarders.js';
import { header } from './raw-backend.js';
import { type Rig, rig } from './rig.js';

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*';
const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
const hostile = fc.constantFrom(
  ' ',
  '\t',
  '\r',
  '\n',
  '\r\n',
  '\u0000',
  ':',
  ';',
  '"',
  '/',
  '\\',
  '%',
  '%2e',
  '..',
  '@',
  '?',
  '#',
  '\u00ff',
  ',',
  '0',
  'chunked',
);
const text = fc.array(fc.oneof(token, hostile), { maxLength: 6 }).map((parts) => parts.join(''));
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'CONNECT', 'X-Y', '');
const target = fc.oneof(
  text.map((t) => `/${t}`),
  fc.constantFrom('*', 'http://a/x', 'http://user@evil/x', '//x', '/\\x', 'x', ''),
);
const extraHeaders = fc.array(
  fc.tuple(
    fc.oneof(
      token,
      fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'TE', 'Expect', 'X A'),
    ),
    text,
  ),
  { maxLength: 5 },
);
const chunks = fc.array(fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 20 }), {
  maxLength: 4,
});

/** A well-formed request: exact bytes the backend must read. */
const wellFormed = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
  path: fc.array(token, { maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
  headers: fc.array(
    fc.tuple(
      token.map((n) => `X-${n}`),
      token,
    ),
    { maxLength: 4 },
  ),
  chunked: fc.boolean(),
  chunks,
});

let fuzzRigs: Rig[] = [];
beforeAll(async () => {
  fuzzRigs = await Promise.all(FORWARDERS.map(({ options }) => rig(options, { retry: { maxBufferBytes: 16 } })));
});
afterAll(async () => {
  for (const r of fuzzRigs) await r.close();
});

describe.each(FORWARDERS.map((f, i) => ({ ...f, i })))('fuzzing ($name)', ({ i }) => {
  it('forwards every well-formed request byte for byte', async () => {
    const r = fuzzRigs[i] as Rig;
    await fc.assert(
      fc.asyncProperty(wellFormed, async (q) => {
        const before = r.backend.requests.length;
        const body = q.chunks.join('');
        const framing = q.chunked
          ? `Transfer-Encoding: chunked\r\n\r\n${q.chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`
          : `Content-Length: ${body.length}\r\n\r\n${body}`;
        const head = q.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
        const res = await r.send(
          `${q.method} ${q.path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${head}${framing}`,
          1000,
        );
        expect(res.status).toBe(200);
        const seen = r.backend.requests[before];
        expect(seen?.target).toBe(q.path);
        expect(seen?.body).toBe(body);
        for (const [n, v] of q.headers) expect(seen?.headers).toContainEqual([n.toLowerCase(), v]);
      }),
      { numRuns: 40 },
    );
    expect(r.backend.malformed).toEqual([]);
  });

  it('forwards only valid authorities, as the one Host line the backend reads', async () => {
    const r = fuzzRigs[i] as Rig;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          text,
          fc.tuple(token, fc.nat(70_000)).map(([h, p]) => `${h}:${p}`),
          fc.constant('[::1]:80'),
        ),
        async (host) => {
          const before = r.backend.requests.length;
          const res = await r.send(`GET /h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 400, true);
          if (res.status !== 200) return;
          const seen = header(r.backend.requests[before], 'host') ?? '';
          expect(seen).toBe(host.trim().toLowerCase());
          expect(seen).toMatch(/^(\[[0-9a-f:.]+\]|([a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})+)(:[0-9]{1,5})?$/);
          const port = /:([0-9]+)$/.exec(seen)?.[1];
          if (port !== undefined) expect(Number(port)).toBeLessThanOrEqual(65535);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
  });

  it('stays up, and the backend only ever reads well-formed requests, whatever the client sends', async () => {
    const r = fuzzRigs[i] as Rig;
    await fc.assert(
      fc.asyncProperty(
        method,
        target,
        extraHeaders,
        fc.oneof(
          fc.constant(''),
          chunks.map((c) => `Content-Length: ${c.join('').length}\r\n\r\n${c.join('')}`),
          fc.tuple(fc.nat(40), text).map(([n, t]) => `Content-Length: ${n}\r\n\r\n${t}`),
          chunks.map(
            (c) =>
              `Transfer-Encoding: chunked\r\n\r\n${c.map((x) => `${x.length.toString(16)}\r\n${x}\r\n`).join('')}0\r\n\r\n`,
          ),
          text.map((t) => `Transfer-Encoding: chunked\r\n\r\n${t}`),
        ),
        async (m, t, headers, framing) => {
          const head = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
          const res = await r.send(`${m} ${t} HTTP/1.1\r\nHost: a\r\n${head}${framing || '\r\n'}`, 400, true);
          // Whatever came back is HTTP, or nothing (the connection was cut).
          if (res.raw !== '') expect(res.raw).toMatch(/^HTTP\/1\.1 \d{3}/);
          expect(r.backend.malformed).toEqual([]);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
    expect(r.backend.malformed).toEqual([]);
    const ok = await r.send('GET /alive HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(ok.status).toBe(200);
    expect(r.lb.backends()[0]?.active).toBe(0);
  });
});
