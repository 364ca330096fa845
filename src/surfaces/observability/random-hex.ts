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

/** True when `bytes` bytes of the pool from `start` are all zero. */
function allZero(start: number, bytes: number): boolean {
  for (let i = start; i < start + bytes; i++) if (pool[i] !== 0) return false;
  return true;
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
  let at = spell(start, 4, 0);
  scratch[at++] = 45; // -
  at = spell(start + 4, 2, at);
  scratch[at++] = 45;
  at = spell(start + 6, 2, at);
  scratch[at++] = 45;
  at = spell(start + 8, 2, at);
  scratch[at++] = 45;
  at = spell(start + 10, 6, at);
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
  if (traceId === undefined) {
    let start = draw(16);
    while (allZero(start, 16)) start = draw(16);
    at = spell(start, 16, at);
  } else {
    at = put(traceId, at);
  }
  scratch[at++] = 45;
  let span = draw(8);
  while (allZero(span, 8)) span = draw(8);
  at = spell(span, 8, at);
  scratch[at++] = 45;
  at = put(flags, at);
  return scratch.toString('latin1', 0, at);
}
