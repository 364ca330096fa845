import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Opens one in-process connection and returns its client end; see
 * `MemoryBackend.createConnection`.
 *
 * @example
 * ```ts
 * import { type ConnectFunction, createMemoryBackend } from 'switchyard-lb/testing';
 * const backend = createMemoryBackend({ id: 'a' });
 * const connect: ConnectFunction = backend.createConnection;
 * http.request(backend.url, { createConnection: connect }).end();
 * ```
 */
export type ConnectFunction = (options?: MemoryConnectOptions) => Duplex;

/**
 * What {@link ConnectFunction} reads of the options `http.Agent` passes it.
 *
 * @example
 * ```ts
 * import { createMemoryBackend } from 'switchyard-lb/testing';
 * const backend = createMemoryBackend({ id: 'a' });
 * backend.createConnection({ timeout: 1000 }); // idle timeout, as net.createConnection takes it
 * ```
 */
export interface MemoryConnectOptions {
  /** Idle timeout for the new socket in milliseconds, as in `net.createConnection()`. @default none */
  readonly timeout?: number | undefined;
}

/**
 * A keep-alive `http.Agent` whose connections are in-process duplexes, so
 * `http.request` and http-proxy-3 reach a memory backend without a port.
 * Pooling, `maxSockets` and keep-alive behave as on any agent.
 *
 * @example
 * ```ts
 * import { createMemoryBackend, MemoryAgent } from 'switchyard-lb/testing';
 * const backend = createMemoryBackend({ id: 'a' });
 * const agent = new MemoryAgent(backend.createConnection, { maxSockets: 4 });
 * http.get(backend.url, { agent }, (res) => res.resume());
 * ```
 */
export class MemoryAgent extends Agent {
  readonly #connect: ConnectFunction;

  /**
   * @param connect opens a connection to the backend
   * @param options merged over `{ keepAlive: true }`
   */
  constructor(connect: ConnectFunction, options?: AgentOptions) {
    super({ keepAlive: true, ...options });
    this.#connect = connect;
  }

  override createConnection(options: ClientRequestArgs): Duplex {
    return this.#connect(options);
  }
}
