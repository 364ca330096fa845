import type { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import type { Context } from '../../core/context.js';
import { makeError } from '../../core/errors.js';
import { clientParseError } from '../../core/net/client-error.js';

/**
/**
 * Reads the request body into memory, up to `limit` bytes, so another
 * attempt can send it again. Returns true when the whole body is buffered:
 * `ctx.requestBody` then replays it for every attempt. Otherwise the body
 * streams once: a Content-Length above `limit` is not read at all, and a
 * chunked body that grows past `limit` is sent as the bytes read so far
 * followed by the rest from the client. Either way the backend reads the
 * client's bytes exactly, with the client's framing (Content-Length or
 * chunked, which the upstream headers keep).
 *
 * Rejects with `ERR_CLIENT_ABORTED` when the client goes away first, and with
 * `ERR_DEADLINE` when the request's deadline passes while reading.
 *
 * @example
 * ```ts
 * import { bufferRequestBody } from './request-body.js';
 * const replayable = await bufferRequestBody(ctx, 64 * 1024, performance.now);
 * ```
 */
export async function bufferRequestBody(ctx: Context, limit: number, now: () => number): Promise<boolean> {
  const req = ctx.req;
  // Already replayable: a body a middleware before the balancer parsed, made again.
  if (req.readableEnded && ctx.requestBody) return true;
  const declared = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && declared !== undefined && Number(declared) > limit) {
    return false;
  }
  const { chunks, complete } = await read(req, limit, ctx.deadline - now());
  if (complete) {
    ctx.requestBody = () => replay(chunks);
    return true;
  }
  // Over the limit mid-body: what was read goes first, then the rest as it comes.
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  // The forwarder listens for the failure on `req` itself; the stream only has
  // to stop, and must not emit an 'error' nobody may be listening to (no
  // attempt starts when, say, no backend is available).
  req.once('error', () => stream.destroy());
  req.pipe(stream);
  ctx.requestBody = () => stream;
  return false;
}

/**
 * Records a streaming request body while it goes upstream, up to `limit`
 * bytes, so a later attempt can send it again: what was read first, then the
 * rest as it comes. For gRPC calls, which may stream for their whole life:
 * they cannot be read to the end before the first attempt as
 * {@link bufferRequestBody} does. The client is paused between attempts, so
 * nothing is lost; past `limit` a replay fails the attempt as a client body
 * error instead of sending a truncated body.
 *
 * Returns `stop`, for when no attempt will follow: recording ends, and a body
 * that no live attempt is reading is drained, so the client's stream can end
 * (an HTTP/2 stream whose request side is never read stays open, and keeps
 * its server from closing, when the balancer answered the call itself).
 *
 * @example
 * ```ts
 * import { recordRequestBody } from './request-body.js';
 * declare const forward: (body: import('node:stream').Readable | undefined) => Promise<void>;
 * const stop = recordRequestBody(ctx, 1 << 20);
 * try {
 *   await forward(ctx.requestBody?.());
 * } finally {
 *   stop();
 * }
 * ```
 */
export function recordRequestBody(ctx: Context, limit: number): () => void {
  const req = ctx.req;
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let stopped = false;
  let current: PassThrough | undefined;
  req.pause();
  req.on('data', (chunk: Buffer) => {
    if (!overflow && !stopped) {
      size += chunk.length;
      if (size > limit) {
        overflow = true;
        chunks.length = 0;
      } else chunks.push(chunk);
    }
    if (current && !current.destroyed && !current.write(chunk)) {
      req.pause();
      current.once('drain', () => req.resume());
    }
  });
  req.once('end', () => current?.end());
  req.once('error', () => current?.destroy());
  ctx.requestBody = () => {
    const previous = current;
    const stream = new PassThrough();
    current = stream;
    if (previous && !previous.destroyed) previous.destroy();
    if (overflow) {
      stream.destroy(
        makeError('ERR_BAD_REQUEST', 'the request body outgrew retry.maxBufferBytes and cannot be sent again'),
      );
      return stream;
    }
    for (const chunk of chunks) stream.write(chunk);
    if (req.readableEnded) stream.end();
    else req.resume();
    return stream;
  };
  return () => {
    stopped = true;
    chunks.length = 0;
    // Nobody reads the rest (no attempt, or the last one failed): let it drain.
    if (current === undefined || current.destroyed) req.resume();
  };
}

function replay(chunks: readonly Buffer[]): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i < chunks.length) this.push(chunks[i++]);
      else this.push(null);
    },
  });
}

function read(req: IncomingMessage, limit: number, timeLeft: number): Promise<{ chunks: Buffer[]; complete: boolean }> {
  const chunks: Buffer[] = [];
  if (req.readableEnded) return Promise.resolve({ chunks, complete: true });
  return new Promise((resolve, reject) => {
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      if (timer) clearTimeout(timer);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        resolve({ chunks, complete: false });
      }
    };
    const onEnd = () => {
      done();
      resolve({ chunks, complete: true });
    };
    const onGone = () => {
      done();
      const parse = clientParseError(req);
      reject(
        parse
          ? makeError('ERR_BAD_REQUEST', 'the request body is malformed', parse)
          : makeError('ERR_CLIENT_ABORTED', 'client closed the connection while sending its request body'),
      );
    };
    if (timeLeft !== Number.POSITIVE_INFINITY) {
      timer = setTimeout(
        () => {
          done();
          req.pause();
          reject(
            makeError('ERR_DEADLINE', 'the request deadline (timeouts.total) passed while reading the request body'),
          );
        },
        Math.max(0, timeLeft),
      );
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onGone);
    req.once('close', onGone);
  });
}
