import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo, Server } from 'node:net';

/** What an HTTP/2 exchange returned. */
export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
}

/** Options of one HTTP/2 request. */
export interface H2RequestOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer | string[];
  /** Trailer fields sent after the body. */
  trailers?: OutgoingHttpHeaders;
}

/** One request on `session`; resolves with the whole response, trailers included. */
export function h2request(session: ClientHttp2Session, options: H2RequestOptions = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const stream = session.request(
      { ':method': options.method ?? 'GET', ':path': options.path ?? '/', ...options.headers },
      {
        endStream: body === undefined && options.trailers === undefined,
        waitForTrailers: options.trailers !== undefined,
      },
    );
    if (options.trailers) {
      const trailers = options.trailers;
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    }
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.once('response', (h) => {
      headers = h;
    });
    stream.once('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('end', () => {
      const bytes = Buffer.concat(chunks);
      resolve({
        status: Number(headers[':status']),
        headers,
        trailers,
        body: bytes,
        text: bytes.toString(),
        json: <T>() => JSON.parse(bytes.toString()) as T,
      });
    });
    if (Array.isArray(body)) {
      for (const chunk of body) stream.write(chunk);
      stream.end();
    } else if (body !== undefined) stream.end(body);
    else if (options.trailers) stream.end();
  });
}

/** A session to `server` (h2c, or h2 over TLS trusting `ca`); closed by the returned `close`. */
export function connect(server: Server, ca?: Buffer): ClientHttp2Session {
  const port = (server.address() as AddressInfo).port;
  const session = ca ? http2.connect(`https://localhost:${port}`, { ca }) : http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return session;
}

/** Listens on an ephemeral loopback port. */
export async function listenOn<T extends Server>(server: T): Promise<T> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Closes a session and waits for it. */
export function closeSession(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) resolve();
    else session.close(() => resolve());
  });
}
