import http, { type IncomingHttpHeaders, type RequestListener } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, vi } from 'vitest';
import { ConfigError } from '../src/core/errors.js';
import { FAKE_TIMERS } from './events.js';

/** A server on an ephemeral loopback port. */
export interface Listening {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function listen(handler: RequestListener | http.Server): Promise<Listening> {
  const server = handler instanceof http.Server ? handler : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[] | number>;
  body?: string | Buffer | string[];
  /** Sends `body` chunk by chunk without a Content-Length (chunked). */
  chunked?: boolean;
}

/** One HTTP request on a fresh connection; resolves with the whole response. */
export function request(port: number, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString(),
            json: <T>() => JSON.parse(body.toString()) as T,
          });
        });
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else if (body !== undefined) {
      if (!options.chunked) req.setHeader('content-length', Buffer.byteLength(body));
      req.end(body);
    } else req.end();
  });
}

/**
 * Writes raw bytes on a new TCP connection and resolves with everything the
 * server sends back until it closes the connection or `idleMs` passes without
 * data.
 */
export function rawExchange(port: number, bytes: string | Buffer, idleMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(idleMs, () => socket.end());
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(error);
    });
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
  });
}

/**
 * Resolves once `check()` is true, polling on the real event loop
 * (`setImmediate`, which tests never fake) so fake time does not move.
 */
export async function until(check: () => boolean, rounds = 10_000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('until: condition not met');
}

/** The ConfigError `fn` throws (any other error is rethrown; no error at all fails the test). */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/**
 * Runs every test of the calling file on fake timers ({@link FAKE_TIMERS}).
 * After each test real timers come back first, then `cleanup` runs (so closing
 * servers and balancers never waits on a clock nobody advances).
 */
export function useFakeClock(cleanup?: () => Promise<unknown>): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await cleanup?.();
  });
}
