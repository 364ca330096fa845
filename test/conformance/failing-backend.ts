import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { testCertificate } from '../certs.js';

/** How a backend fails an upgrade handshake (see {@link failingBackend}). */
export type HandshakeFailureKind = 'refused' | 'silent' | 'reset' | 'closed' | 'garbage' | 'tls';

/** A backend that fails every handshake one way. */
export interface FailingBackend {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * What the client and the `upgrade` event get for each {@link HandshakeFailureKind}:
 * the status and code the HTTP request path gives the same failure.
 */
export const HANDSHAKE_FAILURES: ReadonlyArray<{
  readonly kind: HandshakeFailureKind;
  readonly what: string;
  readonly status: number;
  readonly code: string;
}> = [
  { kind: 'refused', what: 'refuses the connection', status: 502, code: 'ERR_UPSTREAM_CONNECT' },
  { kind: 'silent', what: 'never answers the handshake', status: 504, code: 'ERR_UPSTREAM_TIMEOUT' },
  { kind: 'reset', what: 'resets the connection during the handshake', status: 502, code: 'ERR_UPSTREAM_RESET' },
  { kind: 'closed', what: 'closes the connection during the handshake', status: 502, code: 'ERR_UPSTREAM_RESET' },
  { kind: 'garbage', what: 'answers bytes that are not HTTP', status: 502, code: 'ERR_UPSTREAM_PROTOCOL' },
  { kind: 'tls', what: 'presents a certificate nobody trusts', status: 502, code: 'ERR_UPSTREAM_CONNECT' },
];

/** The generic sentence a client gets for each code: no backend, no address. */
export const CLIENT_MESSAGE: Readonly<Record<string, string>> = {
  ERR_UPSTREAM_CONNECT: 'the backend could not be reached',
  ERR_UPSTREAM_TIMEOUT: 'the backend did not respond in time',
  ERR_UPSTREAM_RESET: 'the backend closed the connection before responding',
  ERR_UPSTREAM_PROTOCOL: 'the backend sent a malformed response',
};

/**
 * A raw TCP (or, for `'tls'`, TLS with a self-signed certificate) backend
 * that reads a request head and fails it the way `kind` says; `'refused'` is
 * a port nobody listens on.
 */
export async function failingBackend(kind: HandshakeFailureKind): Promise<FailingBackend> {
  const sockets = new Set<net.Socket>();
  const onHead = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      if (kind === 'reset') socket.resetAndDestroy();
      else if (kind === 'closed') socket.end();
      else if (kind === 'garbage') socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n');
    });
  };
  const server =
    kind === 'tls'
      ? tls.createServer({ ...testCertificate() }, onHead).on('tlsClientError', () => {})
      : net.createServer(onHead);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  if (kind === 'refused') await close();
  return {
    url: `${kind === 'tls' ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    close: kind === 'refused' ? async () => {} : close,
  };
}
