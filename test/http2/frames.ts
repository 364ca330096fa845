import net from 'node:net';

// Hand-built HTTP/2 frames (RFC 9113 §4) for requests node's client refuses to send.

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types used here. */
export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7 } as const;
/** Flags used here. */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: 9-byte header (length, type, flags, stream id) and payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits. */
function integer(value: number, prefix: number, first: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * An HPACK header block where every field is a literal without indexing with
 * a literal name (RFC 7541 §6.2.2), no Huffman: bytes go on the wire exactly
 * as given, CR, LF, NUL and upper case included.
 */
export function hpack(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), integer(n.length, 7, 0), n, integer(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

/** What the server sent back on stream 1. */
export interface RawOutcome {
  /** `:status` of the response HEADERS, when the static table encoded it (200, 204, 206, 304, 400, 404, 500), or -1. */
  status: number | undefined;
  /** Error code of a RST_STREAM on stream 1. */
  reset: number | undefined;
  /** Error code of a GOAWAY. */
  goaway: number | undefined;
}

const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/**
 * Opens a connection, sends the preface, an empty SETTINGS, then `frames`
 * (stream 1), and collects what comes back until stream 1 ends, is reset, the
 * connection goes away, or `idleMs` passes.
 */
export function rawH2(port: number, frames: Buffer[], idleMs = 1000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const outcome: RawOutcome = { status: undefined, reset: undefined, goaway: undefined };
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(idleMs, finish);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3] as number;
        const flags = buffered[4] as number;
        const stream = buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        if (stream === 1 && type === FRAME.HEADERS && outcome.status === undefined) {
          const first = payload[0] as number;
          outcome.status = first & 0x80 ? (STATIC_STATUS[first & 0x7f] ?? -1) : -1;
        }
        if (stream === 1 && type === FRAME.RST_STREAM) {
          outcome.reset = payload.readUInt32BE(0);
          finish();
        }
        if (type === FRAME.GOAWAY) {
          outcome.goaway = payload.readUInt32BE(4);
          finish();
        }
        if (stream === 1 && (flags & FLAG.END_STREAM) !== 0 && (type === FRAME.DATA || type === FRAME.HEADERS))
          finish();
      }
    });
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), ...frames]));
  });
}

/** A request's HEADERS frame on stream 1 (END_HEADERS, and END_STREAM unless a body follows). */
export function headersFrame(fields: ReadonlyArray<readonly [string, string]>, endStream: boolean): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), 1, hpack(fields));
}

/** A DATA frame on stream 1. */
export function dataFrame(data: string, endStream: boolean): Buffer {
  return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, 1, Buffer.from(data, 'latin1'));
}
