import net from 'node:net';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../../src/index.js';
import { mount } from '../fixture.js';
import type { Listening } from '../helpers.js';
import { type RawAnswer, type RawBackend, type ReadRequest, rawBackend } from './raw-backend.js';

/** A response as the client read it off the socket. */
export interface RawResponse {
  /** Every byte the client got. */
  readonly raw: string;
  readonly status: number;
  /** Header lines of the first response, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Bytes after the first response's head. */
  readonly rest: string;
}

export interface Rig {
  readonly lb: LoadBalancer;
  readonly front: Listening;
  readonly backend: RawBackend;
  /** Sends `bytes` on a new connection; resolves when the server closes it (or after `waitMs`). */
  send(bytes: string | Buffer, waitMs?: number, halfClose?: boolean): Promise<RawResponse>;
  close(): Promise<void>;
}

/** Parses the first response head of `raw` (a client's view). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const lines = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
  });
  return { raw, status, headers, rest: end === -1 ? '' : raw.slice(end + 4) };
}

/** Value of a header in a client-side response. */
export function responseHeader(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([k]) => k === name)?.[1];
}

/** Writes raw bytes on a new connection and collects all the server sends until it closes or `waitMs` passes. */
export function sendRaw(port: number, bytes: string | Buffer, waitMs = 1500, halfClose = false): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', done);
    socket.on('close', done);
    if (halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}

/**
 * A raw TCP backend behind a balancer built with `forwarder`'s options and
 * `options`, mounted on a loopback server (upgrades included).
 */
export async function rig(
  forwarder: Partial<LoadBalancerOptions>,
  options: Omit<LoadBalancerOptions, 'backends'> = {},
  answer?: (request: ReadRequest) => RawAnswer,
): Promise<Rig> {
  const backend = await rawBackend(answer);
  const lb = createLoadBalancer({
    ...forwarder,
    ...options,
    backends: [{ id: 'raw', url: backend.url }],
  } as LoadBalancerOptions);
  const mounted = await mount(lb, [backend]);
  return {
    ...mounted,
    backend,
    send: (bytes, waitMs, halfClose) => sendRaw(mounted.front.port, bytes, waitMs, halfClose),
  };
}
