import { Buffer } from 'node:buffer';
import {
  type Agent,
  type AgentOptions,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { type Duration, parseDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import type { BackendHandler, FailMode, RecordedRequest, TestBackend, TestBackendOptions } from './test-backend.js';

const FAIL_MODES: ReadonlySet<string> = new Set<FailMode>(['reset', 'refuse', 'hang', 'garbage', 'close-mid-body']);
const GARBAGE = 'NOT-HTTP garbage\r\n\r\n';
const PARTIAL_BODY = Buffer.alloc(10, '.');
const EMPTY = Buffer.alloc(0);

type Timer = ReturnType<typeof setTimeout>;

type MutableRecord = { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] };

/**
 * What memory and loopback backends share: the `http.Server`, the switches
 * and the record. A subclass supplies the transport: it hands each new
 * server-side connection to {@link BackendCore.accept}, and opens or closes
 * its door when the switches say so.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import type { Duplex } from 'node:stream';
 * import { BackendCore } from './backend-core.js';
 * declare function listenOnPipe(onSocket: (socket: Duplex) => void): Promise<void>;
 * declare function closePipe(): void;
 * class PipeBackend extends BackendCore {
 *   readonly url = 'http://pipe';
 *   readonly config = { id: this.id, url: this.url };
 *   agent() { return new http.Agent({ keepAlive: true }); }
 *   protected async startAccepting() { await listenOnPipe((socket) => this.accept(socket)); }
 *   protected async stopAccepting() { closePipe(); }
 *   protected async closeTransport() {}
 * }
 * ```
 */
export abstract class BackendCore implements TestBackend {
  readonly id: string;
  readonly server: Server;
  abstract readonly url: string;
  abstract readonly config: { readonly id: string; readonly url: string };

  readonly #handler: BackendHandler | undefined;
  readonly #records: MutableRecord[] = [];
  readonly #open = new Set<Duplex>();
  readonly #connectionIds = new WeakMap<object, number>();
  readonly #timers = new Set<Timer>();
  #lastConnectionId = 0;
  #accepted = 0;
  #latency = 0;
  #status: number | null = null;
  #failMode: FailMode | null = null;
  #down = false;
  #closing: Promise<void> | null = null;

  protected constructor(options: TestBackendOptions) {
    if (typeof options?.id !== 'string' || options.id === '') {
      throw new ConfigError('id', options?.id, 'a non-empty string');
    }
    if (options.handler !== undefined && typeof options.handler !== 'function') {
      throw new ConfigError('handler', options.handler, 'a function (req, res) => void');
    }
    this.id = options.id;
    this.#handler = options.handler;
    this.server = createServer();
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
  }

  get requests(): readonly RecordedRequest[] {
    return this.#records.slice();
  }

  get connections(): number {
    return this.#accepted;
  }

  get openConnections(): number {
    return this.#open.size;
  }

  abstract agent(options?: AgentOptions): Agent;

  setLatency(latency: Duration): void {
    this.#latency = parseDuration(latency, 'latency');
  }

  setStatus(status: number | null): void {
    if (status !== null && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
      throw new ConfigError('status', status, 'an integer HTTP status from 200 to 599, or null');
    }
    this.#status = status;
  }

  fail(mode: FailMode | null): Promise<void> {
    if (mode !== null && !FAIL_MODES.has(mode)) {
      throw new ConfigError('mode', mode, `one of ${[...FAIL_MODES].map((m) => `'${m}'`).join(', ')}, or null`);
    }
    this.#failMode = mode;
    return this.#syncAccepting();
  }

  async down(): Promise<void> {
    this.#down = true;
    const stopped = this.#syncAccepting();
    this.#clearTimers();
    await Promise.all([stopped, this.#dropConnections()]);
  }

  up(): Promise<void> {
    this.#down = false;
    return this.#syncAccepting();
  }

  clearRequests(): void {
    this.#records.length = 0;
  }

  reset(): Promise<void> {
    this.#records.length = 0;
    this.#accepted = 0;
    this.#latency = 0;
    this.#status = null;
    this.#failMode = null;
    this.#down = false;
    return this.#syncAccepting();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `false` while the backend refuses new connections: down, failing with `'refuse'`, or closed. */
  protected get accepting(): boolean {
    return this.#closing === null && !this.#down && this.#failMode !== 'refuse';
  }

  /** Starts taking connections again; resolves once it does. Called only when it may be needed. */
  protected abstract startAccepting(): Promise<void>;

  /** Stops taking new connections, leaving open ones alone; resolves once new ones are refused. */
  protected abstract stopAccepting(): Promise<void>;

  /** Releases what the transport holds, after every connection has closed. */
  protected abstract closeTransport(): Promise<void>;

  /** Hands a new server-side connection to the `http.Server`, counting it. */
  protected accept(socket: Duplex): void {
    const id = ++this.#lastConnectionId;
    this.#accepted++;
    this.#connectionIds.set(socket, id);
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    this.server.emit('connection', socket);
  }

  #syncAccepting(): Promise<void> {
    return this.accepting ? this.startAccepting() : this.stopAccepting();
  }

  async #close(): Promise<void> {
    this.#clearTimers();
    await this.stopAccepting();
    await this.#dropConnections();
    await this.closeTransport();
    // Never listened, so this only emits 'close' for whoever watches the server.
    this.server.close();
  }

  /**
   * Destroys every open connection and resolves once all have closed. For
   * memory connections the client ends have seen the close by then too (it
   * travels on the same tick queue), so an agent drops them from its pool
   * before the caller's next request.
   */
  #dropConnections(): Promise<unknown> {
    const closed: Promise<void>[] = [];
    for (const socket of this.#open) {
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.destroy();
    }
    return Promise.all(closed);
  }

  #clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const record: MutableRecord = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: EMPTY,
      trailers: {},
      receivedAt: Date.now(),
      connectionId: this.#connectionIds.get(req.socket) ?? 0,
    };
    this.#records.push(record);
    recordBody(req, res, record);

    // Switches are read when the request arrives, so flipping one mid-request
    // changes only the requests that come after.
    const mode = this.#failMode;
    const status = this.#status;
    if (this.#latency === 0) {
      this.#respond(req, res, mode, status);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#respond(req, res, mode, status);
    }, this.#latency);
    this.#timers.add(timer);
  }

  #respond(req: IncomingMessage, res: ServerResponse, mode: FailMode | null, status: number | null): void {
    switch (mode) {
      case 'hang':
        req.resume();
        return;
      case 'reset':
        afterBody(req, () => req.socket.resetAndDestroy());
        return;
      case 'garbage':
        afterBody(req, () => {
          const socket = req.socket;
          socket.end(GARBAGE, () => socket.destroy());
        });
        return;
      case 'close-mid-body':
        afterBody(req, () => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
          res.write(PARTIAL_BODY, () => res.socket?.destroy());
        });
        return;
      default:
        break;
    }
    if (status !== null) {
      afterBody(req, () => sendJson(res, status, { backend: this.id, status }));
      return;
    }
    const handler = this.#handler;
    if (handler === undefined) {
      afterBody(req, () => sendJson(res, 200, { backend: this.id, method: req.method, url: req.url }));
      return;
    }
    try {
      const result: unknown = handler(req, res);
      if (result instanceof Promise) result.catch((error: unknown) => handlerFailed(res, error));
    } catch (error) {
      handlerFailed(res, error);
    }
  }
}

/**
 * Tees the body into the record without taking it from the handler:
 * `prependListener` (unlike `on`) does not switch the stream to flowing, so
 * chunks stay buffered for a handler that reads later, and `read()` emits
 * `'data'` too, so every way of reading passes through the listener.
 */
function recordBody(req: IncomingMessage, res: ServerResponse, record: MutableRecord): void {
  const chunks: Buffer[] = [];
  req.prependListener('data', (chunk: Buffer | string) => {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, req.readableEncoding ?? 'utf8') : chunk);
  });
  req.once('end', () => {
    record.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    record.trailers = { ...req.trailers };
  });
  // When a response ends before its request body was read, Node dumps the
  // rest of the body unseen. Resuming first (prepended, so before Node's own
  // 'finish' listener) makes Node skip the dump and the rest flow past the tee.
  res.prependListener('finish', () => {
    if (!req.readableEnded) req.resume();
  });
}

function afterBody(req: IncomingMessage, then: () => void): void {
  if (req.readableEnded) {
    then();
    return;
  }
  req.once('end', then);
  req.resume();
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  // 204 and 304 must not carry a body; a Content-Length on them would confuse clients.
  if (status === 204 || status === 304) {
    res.writeHead(status).end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function handlerFailed(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) });
}
