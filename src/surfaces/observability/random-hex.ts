import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `0-9a-f` as character codes. */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where an id is spelled out before it becomes one flat string. */
const scratch = Buffer.alloc(64);

/** The pool's offset of `bytes` fresh random bytes, refilling the pool 4 KiB at a time. */
function draw(bytes: number): number {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const start = offset;
  offset += bytes;
  return start;
}

/** {@link draw}, drawing again while the bytes are all zero (W3C Trace Context's invalid id). */
function drawNonZero(bytes: number): number {
  for (;;) {
    const start = draw(bytes);
    for (let i = start; i < start + bytes; i++) if (pool[i] !== 0) return start;
  }
}

/** Spells `bytes` pool bytes from `from` as lowercase hex into the scratch buffer at `at`; returns the end. */
function spell(from: number, bytes: number, at: number): number {
  for (let i = from; i < from + bytes; i++) {
    const byte = pool[i] as number;
    scratch[at++] = HEX[byte >> 4] as number;
    scratch[at++] = HEX[byte & 15] as number;
  }
  return at;
}

const DASH = 45;
/** A UUID's hex groups, in bytes. */
const UUID_GROUPS = [4, 2, 2, 2, 6] as const;

/** Copies the ASCII `text` into the scratch buffer at `at`; returns the end. */
function put(text: string, at: number): number {
  for (let i = 0; i < text.length; i++) scratch[at++] = text.charCodeAt(i);
  return at;
}

/**
 * A random (version 4) UUID, as `crypto.randomUUID()` makes: spelled into a
 * buffer and read out as one flat string, not joined from 20 pieces (a
 * string a header write then has to flatten).
 *
 * @example
 * ```ts
 * import { randomUuid } from './random-hex.js';
 * randomUuid(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 * ```
 */
export function randomUuid(): string {
  const start = draw(16);
  // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
  pool[start + 6] = ((pool[start + 6] as number) & 0x0f) | 0x40;
  pool[start + 8] = ((pool[start + 8] as number) & 0x3f) | 0x80;
  let at = 0;
  let from = start;
  for (const bytes of UUID_GROUPS) {
    if (at > 0) scratch[at++] = DASH;
    at = spell(from, bytes, at);
    from += bytes;
  }
  return scratch.toString('latin1', 0, at);
}

/**
 * A `traceparent` value (W3C Trace Context §3.2, version `00`) for a span
 * with a random span id: of a new sampled trace with a random trace id when
 * `traceId` is undefined, else of the trace `traceId` with `flags`. Neither
 * id is ever all zeros. The trace id is characters 3 to 35 of the result,
 * the span id 36 to 52.
 *
 * @example
 * ```ts
 * import { randomTraceparent } from './random-hex.js';
 * randomTraceparent(undefined, '01'); // '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
 * ```
 */
export function randomTraceparent(traceId: string | undefined, flags: string): string {
  let at = put('00-', 0);
  at = traceId === undefined ? spell(drawNonZero(16), 16, at) : put(traceId, at);
  scratch[at++] = DASH;
  at = spell(drawNonZero(8), 8, at);
  scratch[at++] = DASH;
  at = put(flags, at);
  return scratch.toString('latin1', 0, at);
}
