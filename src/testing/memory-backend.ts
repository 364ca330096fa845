import type { Agent, AgentOptions } from 'node:http';
import { BackendCore } from './backend-core.js';
import { type ConnectFunction, MemoryAgent, type MemoryConnectOptions } from './memory-agent.js';
import { MemorySocket, type SocketEndpoint } from './memory-socket.js';
import type { TestBackend, TestBackendOptions } from './test-backend.js';

/**
 * A backend option for the balancer that reaches a memory backend: the
 * balancer opens connections with `createConnection` instead of dialling `url`.
 *
 * @example
 * ```ts
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 * import { createLoadBalancer } from 'switchyard-lb';
 * const a = createMemoryBackend({ id: 'a' });
 * const b = createMemoryBackend({ id: 'b' });
 * createLoadBalancer({ backends: [a.config, b.config] });
 * ```
 */
export interface MemoryBackendConfig {
  /** The backend's id. */
  readonly id: string;
  /** The backend's synthetic URL; its host never resolves. */
  readonly url: string;
  /** Opens a new in-process connection to the backend. */
  readonly createConnection: ConnectFunction;
}

/**
 * A {@link TestBackend} reached through in-process connections, without a port.
 *
 * @example
 * ```ts
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 * const a = createMemoryBackend({ id: 'a' });
 * const socket = a.createConnection(); // a connected Duplex
 * ```
 */
export interface MemoryBackend extends TestBackend {
  /** A synthetic URL such as `'http://a.memory.switchyard:80'`, derived from the id. */
  readonly url: string;
  /** The backend as a balancer option, connections included. */
  readonly config: MemoryBackendConfig;
  /**
   * Opens a new in-process connection and returns the client end. While the
   * backend refuses connections (down, `'refuse'`, closed), the returned
   * socket emits an `ECONNREFUSED` error on the next tick instead.
   * A plain function: it may be passed around detached from the backend.
   */
  readonly createConnection: ConnectFunction;
}

/** The synthetic port in every memory backend URL. */
const PORT = 80;
const FIRST_EPHEMERAL_PORT = 49152;
let nextClientPort = FIRST_EPHEMERAL_PORT;

/**
 * Makes a backend that answers requests in memory. Nothing listens: a
 * connection is a pair of in-process duplexes with Node's real HTTP parser on
 * both ends, so keep-alive, chunked bodies, trailers and parse errors behave as
 * over TCP. Without a `handler` it answers `200` with JSON
 * `{ backend: id, method, url }`.
 *
 * Close it when the test is done (`await a.close()`).
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * import http from 'node:http';
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 *
 * const a = createMemoryBackend({ id: 'a' });
 * const b = createMemoryBackend({ id: 'b', handler: (req, res) => res.end('hi') });
 * const lb = createLoadBalancer({ backends: [a.config, b.config] });
 *
 * await b.fail('reset');
 * // ...send traffic through lb and assert it goes to a...
 * expect(a.requests.map((r) => r.url)).toEqual(['/one', '/two']);
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export function createMemoryBackend(options: TestBackendOptions): MemoryBackend {
  return new MemoryTestBackend(options);
}

class MemoryTestBackend extends BackendCore implements MemoryBackend {
  readonly url: string;
  readonly config: MemoryBackendConfig;
  readonly #endpoint: SocketEndpoint = { address: '127.0.0.1', family: 'IPv4', port: PORT };

  constructor(options: TestBackendOptions) {
    super(options);
    this.url = `http://${hostLabel(this.id)}.memory.switchyard:${PORT}`;
    this.config = Object.freeze({ id: this.id, url: this.url, createConnection: this.createConnection });
  }

  readonly createConnection = (options?: MemoryConnectOptions): MemorySocket => {
    const client: SocketEndpoint = { address: '127.0.0.1', family: 'IPv4', port: takeClientPort() };
    if (!this.accepting) return MemorySocket.refused(client, this.#endpoint);
    const [clientEnd, serverEnd] = MemorySocket.pair(client, this.#endpoint);
    const timeout = options?.timeout;
    if (typeof timeout === 'number' && timeout > 0) clientEnd.setTimeout(timeout);
    this.accept(serverEnd);
    return clientEnd;
  };

  agent(options?: AgentOptions): Agent {
    return new MemoryAgent(this.createConnection, options);
  }

  // Refusal is decided per connection in createConnection: nothing to open or close.
  protected startAccepting(): Promise<void> {
    return Promise.resolve();
  }

  protected stopAccepting(): Promise<void> {
    return Promise.resolve();
  }

  protected closeTransport(): Promise<void> {
    return Promise.resolve();
  }
}

/** A DNS label from an id: lower-case letters, digits and inner hyphens, at most 63 characters. */
function hostLabel(id: string): string {
  const label = id
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? 'backend' : label;
}

function takeClientPort(): number {
  const port = nextClientPort;
  nextClientPort = port === 65535 ? FIRST_EPHEMERAL_PORT : port + 1;
  return port;
}
