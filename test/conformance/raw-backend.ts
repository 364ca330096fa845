import net, { type AddressInfo } from 'node:net';

/** One request as a raw backend read it, with what a strict parser made of it. */
export interface ReadRequest {
  /** Exactly the bytes of this request (head and body), as read. */
  readonly raw: string;
  readonly method: string;
  readonly target: string;
  /** Header lines in order, names as sent. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The decoded body. */
  readonly body: string;
  /** Trailer lines of a chunked body. */
  readonly trailers: ReadonlyArray<readonly [string, string]>;
  /** Index of the connection it came on (0 for the first the backend accepted). */
  readonly connection: number;
}

/** What the backend answers to a request: raw bytes, or nothing (hang), or 'close'. */
export type RawAnswer = string | Buffer | 'close' | undefined;

export interface RawBackend {
  readonly port: number;
  readonly url: string;
  /** Every well-formed request read, in order. */
  readonly requests: ReadRequest[];
  /** Every violation of HTTP/1.1 framing the strict parser found (must stay empty). */
  readonly malformed: string[];
  /** Connections accepted so far. */
  connections(): number;
  /** Bytes read on connection `i`, all of them. */
  bytes(i: number): string;
  /** Replaces the answer function. */
  answer(fn: (request: ReadRequest) => RawAnswer): void;
  close(): Promise<void>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses one request from the front of `data`; `undefined` when more bytes are needed. */
function parseOne(
  data: string,
  connection: number,
): { request: ReadRequest; used: number } | { error: string } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) {
    if (/[^\r]\n/.test(data) || /\r[^\n]/.test(data.slice(0, -1))) return { error: 'bare CR or LF in a head' };
    return undefined;
  }
  const lines = data.slice(0, end).split('\r\n');
  const start = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0] ?? '');
  if (!start) return { error: `bad request line ${JSON.stringify(lines[0])}` };
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (colon < 1 || !TOKEN.test(name)) return { error: `bad header line ${JSON.stringify(line)}` };
    if (/[\r\n\0]/.test(value)) return { error: `bad header value ${JSON.stringify(line)}` };
    headers.push([name, value]);
  }
  const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  const lengths = get('content-length');
  const encodings = get('transfer-encoding');
  if (get('host').length !== 1) return { error: 'not exactly one Host' };
  if (lengths.length > 0 && encodings.length > 0) return { error: 'both Content-Length and Transfer-Encoding' };
  if (lengths.length > 1) return { error: 'repeated Content-Length' };
  let at = end + 4;
  let body = '';
  const trailers: Array<[string, string]> = [];
  if (encodings.length > 0) {
    if (
      !/^((gzip|x-gzip|deflate|compress|x-compress),)*chunked$/.test(
        encodings.join(',').toLowerCase().replace(/\s/g, ''),
      )
    )
      return { error: `Transfer-Encoding ${encodings.join(',')}` };
    for (;;) {
      const eol = data.indexOf('\r\n', at);
      if (eol === -1) return undefined;
      const sizeLine = data.slice(at, eol);
      const m = /^([0-9a-fA-F]{1,8})(;[!-~ \t]*)?$/.exec(sizeLine);
      if (!m) return { error: `bad chunk size line ${JSON.stringify(sizeLine)}` };
      const size = Number.parseInt(m[1] as string, 16);
      at = eol + 2;
      if (size === 0) {
        for (;;) {
          const tEol = data.indexOf('\r\n', at);
          if (tEol === -1) return undefined;
          const line = data.slice(at, tEol);
          at = tEol + 2;
          if (line === '') break;
          const colon = line.indexOf(':');
          if (colon < 1 || !TOKEN.test(line.slice(0, colon))) return { error: `bad trailer ${JSON.stringify(line)}` };
          trailers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
        }
        break;
      }
      if (data.length < at + size + 2) return undefined;
      body += data.slice(at, at + size);
      if (data.slice(at + size, at + size + 2) !== '\r\n') return { error: 'chunk not followed by CRLF' };
      at += size + 2;
    }
  } else if (lengths.length === 1) {
    if (!/^[0-9]+$/.test(lengths[0] as string)) return { error: `bad Content-Length ${lengths[0]}` };
    const n = Number(lengths[0]);
    if (data.length < at + n) return undefined;
    body = data.slice(at, at + n);
    at += n;
  }
  return {
    request: {
      raw: data.slice(0, at),
      method: start[1] as string,
      target: start[2] as string,
      headers,
      body,
      trailers,
      connection,
    },
    used: at,
  };
}

/** A canned 200 with a short fixed body. */
export const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/**
 * A backend on a raw TCP socket: it parses what it reads strictly (any
 * framing violation is recorded in `malformed`), records every request's
 * exact bytes and answers with the bytes `answer` returns (by default {@link OK}).
 */
export async function rawBackend(answer: (request: ReadRequest) => RawAnswer = () => OK): Promise<RawBackend> {
  let respond = answer;
  const requests: ReadRequest[] = [];
  const malformed: string[] = [];
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const index = received.length;
    received.push('');
    sockets.add(socket);
    let buffer = '';
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      received[index] += text;
      buffer += text;
      for (;;) {
        const result = parseOne(buffer, index);
        if (result === undefined) return;
        if ('error' in result) {
          malformed.push(result.error);
          socket.destroy();
          return;
        }
        buffer = buffer.slice(result.used);
        requests.push(result.request);
        const reply = respond(result.request);
        if (reply === 'close') {
          socket.destroy();
          return;
        }
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    malformed,
    connections: () => received.length,
    bytes: (i) => received[i] ?? '',
    answer(fn) {
      respond = fn;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The value of header `name` (any case) in a read request, or undefined. */
export function header(request: ReadRequest | undefined, name: string): string | undefined {
  return request?.headers.find(([k]) => k.toLowerCase() === name)?.[1];
}

/** Names (lower-cased) of the headers of a read request. */
export function headerNames(request: ReadRequest | undefined): string[] {
  return (request?.headers ?? []).map(([k]) => k.toLowerCase());
}
