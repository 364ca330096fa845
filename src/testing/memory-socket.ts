import type { Buffer } from 'node:buffer';
import { constants } from 'node:os';
import process from 'node:process';
import { Duplex } from 'node:stream';

/**
 * One end of a connection: an address, its family and a port.
 *
 * @example
 * ```ts
 * import { type SocketEndpoint } from 'switchyard-lb/testing';
 * const backendEnd: SocketEndpoint = { address: '127.0.0.1', family: 'IPv4', port: 80 };
 * ```
 */
export interface SocketEndpoint {
  /** IP address, e.g. `'127.0.0.1'`. */
  readonly address: string;
  /** Address family, as `net.Socket#address()` reports it. */
  readonly family: 'IPv4' | 'IPv6';
  /** Port number. */
  readonly port: number;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * An in-process stand-in for a connected `net.Socket`: one end of a pair made
 * by {@link MemorySocket.pair}. Bytes written to one end are read from the
 * other, so Node's HTTP client and server parsers can run over it unchanged,
 * keep-alive included.
 *
 * Node's `http` client, `http.Agent`, `http.Server` and http-proxy-3 call socket
 * methods that a plain `Duplex` lacks; this class supplies them, and mirrors
 * TCP where the parsers depend on it:
 *
 * - `destroy()` sends a FIN: the peer reads what was already sent, then sees
 *   `'end'` and closes (both ends are `allowHalfOpen: false`, like sockets).
 * - `resetAndDestroy()` sends an RST: the peer is destroyed with an
 *   `ECONNRESET` error and loses any data it has not read.
 * - `setTimeout()` is a real idle timeout, re-armed by reads and writes, that
 *   emits `'timeout'`; it runs on the global `setTimeout`, so fake timers
 *   drive it, and it never keeps the process alive.
 * - Bytes cross to the peer on a later tick, never inside the writer's call
 *   stack, because the HTTP parsers are not re-entrant.
 *
 * @example
 * ```ts
 * import { MemorySocket } from 'switchyard-lb/testing';
 * declare const httpServer: import('node:http').Server;
 * const [client, server] = MemorySocket.pair(
 *   { address: '127.0.0.1', family: 'IPv4', port: 50000 },
 *   { address: '127.0.0.1', family: 'IPv4', port: 80 },
 * );
 * httpServer.emit('connection', server);
 * http.request({ createConnection: () => client, path: '/' }).end();
 * ```
 */
export class MemorySocket extends Duplex {
  /** `true` only while a refused connection waits for its error, as a real connect would. */
  connecting = false;
  /** Idle timeout in milliseconds, as last given to {@link MemorySocket.setTimeout}. */
  timeout: number | undefined = undefined;
  /** This end's address. */
  readonly localAddress: string;
  /** This end's port. */
  readonly localPort: number;
  /** This end's address family. */
  readonly localFamily: 'IPv4' | 'IPv6';
  /** The other end's address. */
  readonly remoteAddress: string;
  /** The other end's port. */
  readonly remotePort: number;
  /** The other end's address family. */
  readonly remoteFamily: 'IPv4' | 'IPv6';

  #peer: MemorySocket | null = null;
  // The peer's write waits here until this end reads: that is the backpressure.
  #pendingWrite: (() => void) | null = null;
  #eofReceived = false;
  #sendReset = false;
  #idleMs = 0;
  #idleTimer: Timer | null = null;
  #bytesRead = 0;
  #bytesWritten = 0;

  /**
   * Makes an unconnected end; use {@link MemorySocket.pair} or
   * {@link MemorySocket.refused} instead.
   *
   * @example
   * ```ts
   * import { MemorySocket } from 'switchyard-lb/testing';
   * declare const local: import('./memory-socket.js').SocketEndpoint, remote: import('./memory-socket.js').SocketEndpoint;
   * const lonely = new MemorySocket(local, remote); // writes go nowhere
   * ```
   */
  constructor(local: SocketEndpoint, remote: SocketEndpoint) {
    super({ allowHalfOpen: false });
    this.localAddress = local.address;
    this.localPort = local.port;
    this.localFamily = local.family;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.remoteFamily = remote.family;
  }

  /**
   * Makes a connected pair. The client end emits `'connect'` and `'ready'` on
   * the next tick, as a socket from `net.connect()` does, though it is usable
   * at once (`connecting` is `false`).
   *
   * @example
   * ```ts
   * import { MemorySocket } from 'switchyard-lb/testing';
   * declare const clientEndpoint: import('./memory-socket.js').SocketEndpoint, serverEndpoint: import('./memory-socket.js').SocketEndpoint;
   * const [client, server] = MemorySocket.pair(clientEndpoint, serverEndpoint);
   * ```
   */
  static pair(client: SocketEndpoint, server: SocketEndpoint): [client: MemorySocket, server: MemorySocket] {
    const clientEnd = new MemorySocket(client, server);
    const serverEnd = new MemorySocket(server, client);
    clientEnd.#peer = serverEnd;
    serverEnd.#peer = clientEnd;
    process.nextTick(emitConnect, clientEnd);
    return [clientEnd, serverEnd];
  }

  /**
   * Makes a client end whose connection is refused: on the next tick it
   * emits an `'error'` with `code: 'ECONNREFUSED'` and closes, like a TCP
   * connect to a port nobody listens on.
   *
   * @example
   * ```ts
   * import { MemorySocket } from 'switchyard-lb/testing';
   * declare const clientEndpoint: import('./memory-socket.js').SocketEndpoint, serverEndpoint: import('./memory-socket.js').SocketEndpoint;
   * const socket = MemorySocket.refused(clientEndpoint, serverEndpoint);
   * socket.on('error', (err: NodeJS.ErrnoException) => console.log(err.code)); // 'ECONNREFUSED'
   * ```
   */
  static refused(client: SocketEndpoint, server: SocketEndpoint): MemorySocket {
    const socket = new MemorySocket(client, server);
    socket.connecting = true;
    process.nextTick(failConnect, socket, server);
    return socket;
  }

  /** Bytes received from the peer. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes handed to the peer. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** `true` while a refused connection waits for its error; `false` for a connected end. */
  get pending(): boolean {
    return this.connecting;
  }

  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as on `net.Socket`. */
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /**
   * This end's address, as `net.Socket#address()` returns it.
   *
   * @example
   * ```ts
   * socket.address(); // { address: '127.0.0.1', family: 'IPv4', port: 50000 }
   * ```
   */
  address(): SocketEndpoint {
    return { address: this.localAddress, family: this.localFamily, port: this.localPort };
  }

  /**
   * Emits `'timeout'` after `ms` without reads or writes; `0` disables it.
   * Like `net.Socket`, it only notifies: whoever listens decides to destroy.
   *
   * @example
   * ```ts
   * socket.setTimeout(50, () => socket.destroy());
   * ```
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (this.destroyed) return this;
    this.timeout = ms;
    this.#stopIdleTimer();
    this.#idleMs = ms;
    if (ms === 0) {
      if (callback !== undefined) this.removeListener('timeout', callback);
    } else {
      this.#idleTimer = setTimeout(emitTimeout, ms, this);
      this.#idleTimer.unref?.();
      if (callback !== undefined) this.once('timeout', callback);
    }
    return this;
  }

  /**
   * No-op: there is no Nagle algorithm in memory.
   *
   * @example
   * ```ts
   * socket.setNoDelay(true);
   * ```
   */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /**
   * No-op: an in-memory connection never goes stale.
   *
   * @example
   * ```ts
   * socket.setKeepAlive(true, 1000);
   * ```
   */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /**
   * No-op: an in-memory connection holds no handle that could keep the
   * event loop alive.
   *
   * @example
   * ```ts
   * socket.ref();
   * ```
   */
  ref(): this {
    return this;
  }

  /**
   * No-op, see {@link MemorySocket.ref}.
   *
   * @example
   * ```ts
   * socket.unref();
   * ```
   */
  unref(): this {
    return this;
  }

  /**
   * Ends the writable side and destroys the socket once everything written
   * has been handed over, as `net.Socket#destroySoon()` does.
   *
   * @example
   * ```ts
   * socket.write('bye');
   * socket.destroySoon();
   * ```
   */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /**
   * Destroys this end and resets the connection: the peer is destroyed with
   * an `ECONNRESET` error instead of reading an orderly end.
   *
   * @example
   * ```ts
   * declare const serverSocket: import('./memory-socket.js').MemorySocket; // the server's end of a pair
   * serverSocket.resetAndDestroy(); // the client sees 'read ECONNRESET'
   * ```
   */
  resetAndDestroy(): this {
    this.#sendReset = true;
    return this.destroy();
  }

  override _read(): void {
    const release = this.#pendingWrite;
    if (release !== null) {
      this.#pendingWrite = null;
      // Later, not now: the writer's 'drain' must not fire inside the reader's read().
      process.nextTick(release);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.#peer;
    // With the peer gone the bytes vanish, as into a TCP connection the other
    // side has closed; the FIN or RST already on its way tells this end.
    if (peer === null) {
      callback();
      return;
    }
    this.#bytesWritten += chunk.length;
    this.#touch();
    process.nextTick(MemorySocket.#deliver, peer, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const peer = this.#peer;
    if (peer !== null) process.nextTick(MemorySocket.#deliverEnd, peer);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopIdleTimer();
    this.#idleMs = 0;
    const peer = this.#peer;
    this.#peer = null;
    if (peer !== null) {
      peer.#peer = null;
      process.nextTick(this.#sendReset ? MemorySocket.#deliverReset : MemorySocket.#deliverEnd, peer);
    }
    const release = this.#pendingWrite;
    this.#pendingWrite = null;
    if (release !== null) process.nextTick(release);
    callback(error);
  }

  static #deliver(this: void, target: MemorySocket, chunk: Buffer, callback: () => void): void {
    if (target.destroyed || target.#eofReceived) {
      callback();
      return;
    }
    target.#bytesRead += chunk.length;
    target.#touch();
    if (target.push(chunk)) callback();
    else target.#pendingWrite = callback;
  }

  static #deliverEnd(this: void, target: MemorySocket): void {
    if (target.destroyed || target.#eofReceived) return;
    target.#eofReceived = true;
    target.push(null);
    // Like net.Socket: a paused socket with nothing buffered still sees 'end',
    // which is how an idle keep-alive socket in an agent's pool learns it is dead.
    target.read(0);
  }

  static #deliverReset(this: void, target: MemorySocket): void {
    if (target.destroyed) return;
    target.destroy(systemError('ECONNRESET', 'read'));
  }

  #touch(): void {
    if (this.#idleMs === 0 || this.destroyed) return;
    // clear + set rather than refresh(): not every fake-timer implementation refreshes.
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(emitTimeout, this.#idleMs, this);
    this.#idleTimer.unref?.();
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
  }
}

function emitTimeout(socket: MemorySocket): void {
  if (!socket.destroyed) socket.emit('timeout');
}

function emitConnect(socket: MemorySocket): void {
  if (socket.destroyed) return;
  socket.emit('connect');
  socket.emit('ready');
}

function failConnect(socket: MemorySocket, server: SocketEndpoint): void {
  socket.connecting = false;
  if (socket.destroyed) return;
  const error = systemError('ECONNREFUSED', 'connect', `${server.address}:${server.port}`);
  socket.destroy(Object.assign(error, { address: server.address, port: server.port }));
}

/** An `Error` shaped like the ones libuv reports, so code matching on `code` or `syscall` works. */
function systemError(code: 'ECONNRESET' | 'ECONNREFUSED', syscall: string, detail?: string): NodeJS.ErrnoException {
  const message = detail === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${detail}`;
  return Object.assign(new Error(message), { code, errno: -constants.errno[code], syscall });
}
