import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../src/balancer.js';
import { ConfigError } from '../src/core/errors.js';
import { type CertKit, certKit } from './certs.js';
import { FORWARDERS } from './conformance/forwarders.js';
import { listen, request } from './helpers.js';

let kit: CertKit;
let backend: https.Server;
let port: number;
beforeAll(async () => {
  kit = certKit();
  const cert = kit.server('backend', ['backend.internal']);
  // The backend requires a client certificate from the kit's CA.
  backend = https.createServer(
    { cert: cert.cert, key: cert.key, ca: kit.ca.cert, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(
        JSON.stringify({
          client: peer.subject?.CN,
          servername: (req.socket as TLSSocket & { servername?: string }).servername,
        }),
      );
    },
  );
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  port = (backend.address() as AddressInfo).port;
});
afterAll(async () => {
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
  kit.remove();
});

async function through(lb: LoadBalancer) {
  const front = await listen(lb.handler);
  try {
    return await request(front.port, { path: '/' });
  } finally {
    await lb.close();
    await front.close();
  }
}

describe('upstream HTTPS', () => {
  it('verifies the backend against a custom CA and presents a client certificate with a servername', async () => {
    const client = kit.client('lb-client', 'switchyard-lb');
    const lb = createLoadBalancer({
      backends: [
        {
          url: `https://127.0.0.1:${port}`,
          tls: {
            caFile: kit.ca.certFile,
            certFile: client.certFile,
            keyFile: client.keyFile,
            servername: 'backend.internal',
          },
        },
      ],
      retry: false,
    });
    const reply = await through(lb);
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ client: 'switchyard-lb', servername: 'backend.internal' });
  });

  it.each(FORWARDERS)(
    'fails with 502 ERR_UPSTREAM_CONNECT when the backend certificate is not trusted ($name)',
    async ({ options }) => {
      const client = kit.client('lb-client2', 'switchyard-lb');
      const lb = createLoadBalancer({
        ...options,
        backends: [
          {
            url: `https://127.0.0.1:${port}`,
            tls: { cert: client.cert, key: client.key, servername: 'backend.internal' },
          },
        ],
        retry: false,
      });
      const errors: unknown[] = [];
      lb.on('upstream:error', (e) => errors.push(e));
      const reply = await through(lb);
      expect(reply.status).toBe(502);
      // No connection was made (the TLS handshake failed): nothing was sent, as for a refused connect.
      expect(reply.json()).toMatchObject({ error: { code: 'ERR_UPSTREAM_CONNECT' } });
      expect(errors).toMatchObject([{ code: 'ERR_UPSTREAM_CONNECT' }]);
    },
  );

  it('names the option of a missing file or a certificate without its key', () => {
    expect(() =>
      createLoadBalancer({ backends: [{ url: 'https://a.test', tls: { caFile: '/nonexistent/ca.pem' } }] }),
    ).toThrow(/backends\[0\]\.tls\.caFile/);
    expect(() => createLoadBalancer({ backends: [{ url: 'https://a.test', tls: { cert: 'PEM' } }] })).toThrow(
      ConfigError,
    );
  });
});
