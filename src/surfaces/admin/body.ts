import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { makeError, type SwitchyardError } from '../../core/errors.js';

/**
 * Reads a request's JSON body: `Content-Type: application/json` (any
 * charset parameter; the body must be UTF-8), at most `maxBytes`. Rejects
 * with a `SwitchyardError`: `ERR_UNSUPPORTED_MEDIA_TYPE` (415) for another
 * type, `ERR_PAYLOAD_TOO_LARGE` (413) past the limit (at once when
 * `Content-Length` says so), `ERR_BAD_REQUEST` (400) for an empty body or
 * invalid JSON.
 *
 * @example
 * ```ts
 * import { readJsonBody } from './body.js';
 * const patch = await readJsonBody(req, 1024 * 1024);
 * ```
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw makeError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the request body must be JSON: send Content-Type: application/json');
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // Stop keeping it but let the rest flow away, so the 413 still reaches the client.
      req.off('data', onData);
      req.resume();
      reject(tooLarge(maxBytes));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', (error) => reject(makeError('ERR_BAD_REQUEST', 'the request body could not be read', error)));
  });
  const text = body.toString('utf8');
  if (text.trim() === '') throw makeError('ERR_BAD_REQUEST', 'this route needs a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw makeError('ERR_BAD_REQUEST', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): SwitchyardError {
  return makeError('ERR_PAYLOAD_TOO_LARGE', `the request body is larger than ${maxBytes} bytes`);
}
