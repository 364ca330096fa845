import { PassThrough, pipeline, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CaptureStream } from './capture.js';

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('CaptureStream', () => {
  it('passes the body through and hands over a copy once it ends', async () => {
    let copy: Buffer | undefined;
    const tee = new CaptureStream(100, (body) => {
      copy = body;
    });
    pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), tee, () => {});
    expect((await drain(tee)).toString()).toBe('hello world');
    expect(String(copy)).toBe('hello world');
  });

  it('drops the copy past the limit and keeps streaming, giving the client every byte', async () => {
    const calls: Array<Buffer | undefined> = [];
    const tee = new CaptureStream(10, (body) => calls.push(body));
    const chunks = Array.from({ length: 100 }, (_, i) => Buffer.alloc(100, i));
    pipeline(Readable.from(chunks), tee, () => {});
    const out = await drain(tee);
    expect(out.equals(Buffer.concat(chunks))).toBe(true);
    expect(calls).toEqual([undefined]);
  });

  it('reports no copy when the source fails mid-body', async () => {
    const calls: Array<Buffer | undefined> = [];
    const source = new PassThrough();
    const tee = new CaptureStream(100, (body) => calls.push(body));
    pipeline(source, tee, () => {});
    tee.resume();
    source.write('partial');
    await new Promise((resolve) => setImmediate(resolve));
    source.destroy(new Error('upstream died'));
    await new Promise((resolve) => tee.once('close', resolve));
    expect(calls).toEqual([undefined]);
  });
});
