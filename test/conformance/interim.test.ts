import { afterEach, describe, expect, it } from 'vitest';
import type { SwitchyardEvents } from '../../src/index.js';
import { FORWARDERS } from './forwarders.js';
import { type Rig, rig } from './rig.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
const INTERIM = {
  '102 Processing': 'HTTP/1.1 102 Processing\r\n\r\n',
  '103 Early Hints': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n',
  'two 103s': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b.js>\r\n\r\n',
};

describe.each(FORWARDERS)('interim 1xx responses from the backend ($name)', ({ options }) => {
  it.each(Object.entries(INTERIM))(
    '%s, then a 200: the client gets the 200, the backend no failure',
    async (_name, interim) => {
      r = await rig(options, { retry: false }, () => interim + FINAL);
      const events: Array<SwitchyardEvents['request']> = [];
      r.lb.on('request', (e) => events.push(e));
      const first = await r.send('GET /hints HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
      expect(first.status).toBe(200);
      expect(first.rest).toBe('hello');
      // Again on the same pool: the exchange left its connection (and the backend) in a good state.
      const second = await r.send('GET /hints HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
      expect(second.status).toBe(200);
      expect(events.map((e) => e.status)).toEqual([200, 200]);
      const backend = r.lb.backends().find((b) => b.id === 'raw');
      expect(backend).toMatchObject({ status: 'healthy', failures: 0, requests: 2 });
      expect(r.backend.requests).toHaveLength(2);
    },
  );
});

const UNRELAYABLE = {
  'status 099': 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok',
  'status 600': 'HTTP/1.1 600 Big\r\nContent-Length: 2\r\n\r\nok',
  'status 999': 'HTTP/1.1 999 Big\r\nContent-Length: 2\r\n\r\nok',
  'a control character in the reason': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok',
  'DEL in the reason': 'HTTP/1.1 200 O\x7fK\r\nContent-Length: 2\r\n\r\nok',
};

describe.each(FORWARDERS)('final responses that cannot be relayed ($name)', ({ options }) => {
  it.each(Object.entries(UNRELAYABLE))(
    '%s: 502 ERR_UPSTREAM_PROTOCOL with a JSON body, the backend charged',
    async (_name, answer) => {
      r = await rig(options, { retry: false }, () => answer);
      const errors: Array<SwitchyardEvents['upstream:error']> = [];
      r.lb.on('upstream:error', (e) => errors.push(e));
      const res = await r.send('GET /odd HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
      expect(res.status).toBe(502);
      expect(JSON.parse(res.rest)).toEqual({
        error: { code: 'ERR_UPSTREAM_PROTOCOL', message: 'the backend sent a malformed response' },
      });
      expect(errors).toMatchObject([{ backend: 'raw', code: 'ERR_UPSTREAM_PROTOCOL' }]);
      expect(r.lb.backends()[0]).toMatchObject({ failures: 1, active: 0 });
    },
  );
});
