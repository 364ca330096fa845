import { Agent, type AgentOptions } from 'node:http';
import { createServer as createNetServer, isIP, isIPv6, type Server as NetServer } from 'node:net';
import { ConfigError } from '../core/errors.js';
import { BackendCore } from './backend-core.js';
import type { TestBackend, TestBackendOptions } from './test-backend.js';

/**
 * Options for {@link createLoopbackBackend}.
 *
 * @example
 * ```ts
 * import { type LoopbackBackendOptions } from 'switchyard-lb/testing';
 * const options: LoopbackBackendOptions = { id: 'l', host: '::1' };
 * ```
 */
export interface LoopbackBackendOptions extends TestBackendOptions {
  /**
   * IP address to listen on. An address, not a name, so that re-listening
   * after `down()` binds synchronously.
   * @default '127.0.0.1'
   */
  readonly host?: string | undefined;
  /**
   * Port to listen on; `0` picks a free one. `up()` re-listens on the same
   * port either way.
   * @default 0
   */
  readonly port?: number | undefined;
}

/**
 * A {@link TestBackend} listening on a real loopback port, for code that
 * dials URLs itself.
 *
 * @example
 * ```ts
 * import { createLoopbackBackend } from 'switchyard-lb/testing';
 * const l = await createLoopbackBackend({ id: 'l' });
 * await fetch(`${l.url}/health`);
 * ```
 */
export interface LoopbackBackend extends TestBackend {
  /** `'http://127.0.0.1:PORT'` (IPv6 hosts in brackets). */
  readonly url: string;
  /** The address listened on. */
  readonly host: string;
  /** The port listened on; the same after `down()` and `up()`. */
  readonly port: number;
}

/**
 * Makes a backend like {@link createMemoryBackend}, with the same switches and
 * record, but listening on a real ephemeral loopback port. `down()` and
 * `fail('refuse')` close the listener, so connecting gets a genuine
 * `ECONNREFUSED`; `up()` listens again on the same port.
 *
 * @example
 * ```ts
 * import { createLoopbackBackend } from 'switchyard-lb/testing';
 *
 * const l = await createLoopbackBackend({ id: 'l' });
 * const res = await fetch(`${l.url}/hello`);
 * await res.json(); // { backend: 'l', method: 'GET', url: '/hello' }
 * await l.down();  // connections refused
 * await l.up();    // same port again
 * await l.close();
 * ```
 */
export async function createLoopbackBackend(options: LoopbackBackendOptions): Promise<LoopbackBackend> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (typeof host !== 'string' || isIP(host) === 0) {
    throw new ConfigError('host', host, "an IP address such as '127.0.0.1' or '::1'");
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('port', port, 'an integer port from 0 to 65535');
  }
  const backend = new LoopbackTestBackend(options, host, port);
  await backend.up();
  return backend;
}

class LoopbackTestBackend extends BackendCore implements LoopbackBackend {
  readonly host: string;
  #port: number;
  #listener: NetServer | null = null;
  #listening: Promise<void> | null = null;
  #lastClosed: Promise<void> = Promise.resolve();

  constructor(options: TestBackendOptions, host: string, port: number) {
    super(options);
    this.host = host;
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://${isIPv6(this.host) ? `[${this.host}]` : this.host}:${this.#port}`;
  }

  get config(): { readonly id: string; readonly url: string } {
    return { id: this.id, url: this.url };
  }

  agent(options?: AgentOptions): Agent {
    return new Agent({ keepAlive: true, ...options });
  }

  protected startAccepting(): Promise<void> {
    this.#listening ??= this.#listen();
    return this.#listening;
  }

  protected stopAccepting(): Promise<void> {
    const listener = this.#listener;
    this.#listener = null;
    this.#listening = null;
    if (listener !== null) {
      // Closing the handle is synchronous: from here on connecting is refused.
      // 'close' itself waits for the sockets this listener accepted.
      this.#lastClosed = new Promise((resolve) => listener.close(() => resolve()));
    }
    return Promise.resolve();
  }

  protected closeTransport(): Promise<void> {
    return this.#lastClosed;
  }

  #listen(): Promise<void> {
    const listener = createNetServer({ noDelay: true }, (socket) => this.accept(socket));
    this.#listener = listener;
    return new Promise<void>((resolve, reject) => {
      const onListening = () => {
        cleanup();
        const address = listener.address();
        if (address !== null && typeof address === 'object') this.#port = address.port;
        resolve();
      };
      const onError = (error: Error) => {
        cleanup();
        if (this.#listener === listener) {
          this.#listener = null;
          this.#listening = null;
        }
        reject(error);
      };
      // Closed by down() before it was listening: nothing left to wait for.
      const onClose = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        listener.off('listening', onListening);
        listener.off('error', onError);
        listener.off('close', onClose);
      };
      listener.on('listening', onListening);
      listener.on('error', onError);
      listener.on('close', onClose);
      listener.listen(this.#port, this.host);
    });
  }
}
