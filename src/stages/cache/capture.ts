import { Buffer } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes a response body through to the client unchanged while keeping a
 * copy of it, up to `limit` bytes: past the limit the copy is dropped and the
 * body keeps streaming. `onDone` runs once: with the whole body when the
 * stream ended within the limit, else with `undefined` (too big, failed, or
 * the client went away).
 *
 * @example
 * ```ts
 * import { CaptureStream } from './capture.js';
 * declare const upstream: import('node:http').IncomingMessage;
 * declare const store: (body: Buffer) => void;
 * const capture = new CaptureStream(1 << 20, (body) => body && store(body));
 * pipeline(upstream, capture, () => {});
 * capture.pipe(res);
 * ```
 */
export class CaptureStream extends Transform {
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;
  readonly #limit: number;
  #onDone: ((body: Buffer | undefined) => void) | undefined;

  constructor(limit: number, onDone: (body: Buffer | undefined) => void) {
    super();
    this.#limit = limit;
    this.#onDone = onDone;
    this.once('close', () => this.#finish(undefined));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#chunks !== undefined) {
      this.#bytes += chunk.length;
      if (this.#bytes > this.#limit) {
        // Too big to keep: forget the copy, keep streaming.
        this.#chunks = undefined;
        this.#finish(undefined);
      } else this.#chunks.push(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const chunks = this.#chunks;
    this.#chunks = undefined;
    this.#finish(chunks === undefined ? undefined : Buffer.concat(chunks, this.#bytes));
    callback();
  }

  #finish(body: Buffer | undefined): void {
    const onDone = this.#onDone;
    if (!onDone) return;
    this.#onDone = undefined;
    onDone(body);
  }
}
