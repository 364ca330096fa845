import type { Buffer } from 'node:buffer';
import type { Agent, AgentOptions, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duration } from '../core/duration.js';

/**
 * How a test backend misbehaves, set with {@link TestBackend.fail}:
 *
 * - `'reset'`: reads the request, then resets the connection without answering.
 * - `'refuse'`: new connections fail with an `ECONNREFUSED` error; connections
 *   already open (an agent's keep-alive pool) are still served.
 * - `'hang'`: reads the request and never answers; the connection stays open
 *   until the client gives up.
 * - `'garbage'`: answers with bytes that are not HTTP, then closes.
 * - `'close-mid-body'`: sends `200` headers announcing a 1000-byte body, then
 *   10 bytes of it, then closes the connection.
 *
 * @example
 * ```ts
 * import { type FailMode } from 'switchyard-lb/testing';
 * declare const backend: import('./test-backend.js').TestBackend;
 * const mode: FailMode = 'reset';
 * await backend.fail(mode);
 * ```
 */
export type FailMode = 'reset' | 'refuse' | 'hang' | 'garbage' | 'close-mid-body';

// Returns `void`, not `void | Promise<void>`, so that both `async` handlers and
// expression arrows such as `(req, res) => res.end()` type-check.
/**
 * Answers one request, like a listener of `http.Server`'s `'request'` event;
 * it may be `async`. If it throws or its promise rejects, the backend answers `500` with
 * `{ error: message }`, or destroys the response when headers were already sent.
 *
 * @example
 * ```ts
 * import { type BackendHandler } from 'switchyard-lb/testing';
 * const handler: BackendHandler = (req, res) => {
 *   res.setHeader('content-type', 'text/plain');
 *   res.end(`hello from ${req.url}`);
 * };
 * ```
 */
export type BackendHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A request as a test backend received it. `body` and `trailers` are filled
 * in once the whole body has arrived, whether or not the handler read it.
 *
 * @example
 * ```ts
 * declare const backend: import('./test-backend.js').TestBackend;
 * const [first] = backend.requests;
 * expect(first?.method).toBe('POST');
 * expect(first?.body.toString()).toBe('{"a":1}');
 * ```
 */
export interface RecordedRequest {
  /** Request method, e.g. `'GET'`. */
  readonly method: string;
  /** Request target as sent, path and query, e.g. `'/users?page=2'`. */
  readonly url: string;
  /** `'1.1'` or `'1.0'`. */
  readonly httpVersion: string;
  /** Headers as Node parsed them: lower-case names, duplicates joined or dropped per Node's rules. */
  readonly headers: IncomingHttpHeaders;
  /** Headers exactly as sent: `[name, value, name, value, ...]`, duplicates kept, case kept. */
  readonly rawHeaders: readonly string[];
  /** The full request body; empty until it has all arrived. */
  readonly body: Buffer;
  /** Trailers of a chunked body; empty until the body has all arrived. */
  readonly trailers: Readonly<Record<string, string | undefined>>;
  /** When the request headers arrived, from `Date.now()` (so fake clocks apply). */
  readonly receivedAt: number;
  /** Which connection carried it: 1 for the backend's first connection, and so on. */
  readonly connectionId: number;
}

/**
 * Options shared by {@link createMemoryBackend} and {@link createLoopbackBackend}.
 *
 * @example
 * ```ts
 * import { type TestBackendOptions } from 'switchyard-lb/testing';
 * const options: TestBackendOptions = { id: 'a', handler: (req, res) => res.end('ok') };
 * ```
 */
export interface TestBackendOptions {
  /** Backend id, also used as the balancer's backend id. A non-empty string. */
  readonly id: string;
  /**
   * Answers requests while no switch overrides it.
   * @default a handler that answers `200` with JSON `{ backend: id, method, url }` once the body has arrived
   */
  readonly handler?: BackendHandler | undefined;
}

/**
 * A backend for tests: an `http.Server` that never needs a port of its own,
 * with switches to make it slow, fail or go down, and a record of every
 * request it received. Every switch applies to requests and connections that
 * start after it is flipped.
 *
 * @example
 * ```ts
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 * const backend = createMemoryBackend({ id: 'a' });
 * backend.setLatency('200ms');
 * await backend.fail('reset');
 * await backend.reset();
 * await backend.close();
 * ```
 */
export interface TestBackend {
  /** The id given at creation. */
  readonly id: string;
  /** Base URL to give the balancer, e.g. `'http://a.memory.switchyard:80'`. */
  readonly url: string;
  /** A backend option the balancer accepts as is. */
  readonly config: { readonly id: string; readonly url: string };
  /** The backend's `http.Server`. Tune it (`keepAliveTimeout`, ...) or listen to its events. */
  readonly server: Server;
  /** Requests received since creation or the last clear, in arrival order (a snapshot). */
  readonly requests: readonly RecordedRequest[];
  /** Connections accepted since creation or the last {@link TestBackend.reset}. */
  readonly connections: number;
  /** Connections open right now. */
  readonly openConnections: number;
  /**
   * A keep-alive `http.Agent` that reaches this backend; for plain
   * `http.request` or http-proxy-3 in tests. Each call makes a new agent.
   * @param options merged over `{ keepAlive: true }`
   */
  agent(options?: AgentOptions): Agent;
  /** Waits this long (milliseconds or a duration string) before answering each request; `0` for none. */
  setLatency(latency: Duration): void;
  /** Answers every request with this status and a small JSON body instead of the handler; `null` restores the handler. */
  setStatus(status: number | null): void;
  /** Misbehaves as {@link FailMode} describes; `null` restores normal service. Resolves once in force. */
  fail(mode: FailMode | null): Promise<void>;
  /** Crashes: refuses new connections and drops every open one. Resolves once in force. */
  down(): Promise<void>;
  /** Undoes {@link TestBackend.down}. Resolves once the backend accepts connections again. */
  up(): Promise<void>;
  /** Forgets the recorded requests. */
  clearRequests(): void;
  /** Forgets the recorded requests and the connection count, and turns every switch off (and brings the backend up). */
  reset(): Promise<void>;
  /** Drops every connection and shuts the backend down for good. */
  close(): Promise<void>;
}
