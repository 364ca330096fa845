import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { Context } from '../../core/context.js';
import { bufferRequestBody } from './request-body.js';

function incoming(headers: Record<string, string>): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers, method: 'PUT' }) as unknown as PassThrough & IncomingMessage;
}

function contextFor(req: IncomingMessage): Context {
  const res = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
  return new Context(req, res as unknown as ServerResponse, '/', '::1', 0);
}

const now = () => 0;

describe('bufferRequestBody', () => {
  it('buffers a body within the limit and replays it for every attempt', async () => {
    const req = incoming({ 'content-length': '11' });
    const ctx = contextFor(req);
    req.end('hello world');
    expect(await bufferRequestBody(ctx, 64, now)).toBe(true);
    const replay = ctx.requestBody as () => Readable;
    expect(await text(replay())).toBe('hello world');
    expect(await text(replay())).toBe('hello world');
  });

  it('leaves a body whose Content-Length is above the limit unread', async () => {
    const req = incoming({ 'content-length': '100' });
    const ctx = contextFor(req);
    expect(await bufferRequestBody(ctx, 64, now)).toBe(false);
    expect(ctx.requestBody).toBeUndefined();
    expect(req.readableFlowing).toBe(null);
  });

  it('streams a chunked body that outgrows the limit: the read part first, then the rest', async () => {
    const req = incoming({ 'transfer-encoding': 'chunked' });
    const ctx = contextFor(req);
    req.write('aaaa');
    req.write('bbbb');
    const buffering = bufferRequestBody(ctx, 6, now);
    expect(await buffering).toBe(false);
    const stream = (ctx.requestBody as () => Readable)();
    req.end('cccc');
    expect(await text(stream)).toBe('aaaabbbbcccc');
  });

  it('rejects with ERR_CLIENT_ABORTED when the client goes away mid-body', async () => {
    const req = incoming({ 'transfer-encoding': 'chunked' });
    const buffering = bufferRequestBody(contextFor(req), 64, now);
    req.write('part');
    req.destroy();
    await expect(buffering).rejects.toMatchObject({ code: 'ERR_CLIENT_ABORTED' });
  });
});
