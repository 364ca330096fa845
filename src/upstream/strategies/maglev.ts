import { z } from 'zod';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { parseOptions } from '../../core/zod.js';
import { compareIds, findCandidate, layoutWeights, RejectMarks, sameLayout, uniqueById } from './candidates.js';
import { murmur3 } from './hash.js';
import { createHashKey, type HashKey, type HashKeyOption, hashKeySchema } from './hash-key.js';

/**
 * Largest Maglev table accepted (Envoy's limit).
 *
 * @example
 * ```ts
 * import { MAX_MAGLEV_TABLE_SIZE, maglev } from './maglev.js';
 * maglev({ tableSize: MAX_MAGLEV_TABLE_SIZE });
 * ```
 */
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

/**
 * `true` when `n` is a prime number.
 *
 * @example
 * ```ts
 * import { isPrime } from './maglev.js';
 * isPrime(65537); // true
 * isPrime(65536); // false
 * ```
 */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * The smallest prime >= `n`.
 *
 * @example
 * ```ts
 * import { nextPrime } from './maglev.js';
 * nextPrime(65536); // 65537
 * ```
 */
export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  while (!isPrime(p)) p++;
  return p;
}

/**
 * Options of the `maglev` strategy.
 *
 * @example
 * ```ts
 * import { maglevOptionsSchema } from './maglev.js';
 * maglevOptionsSchema.parse({ tableSize: 251 }); // { key: 'ip', tableSize: 251 }
 * ```
 */
export const maglevOptionsSchema = z.strictObject({
  /**
   * Where the key comes from: `'ip'`, `{ header, fallback? }`,
   * `{ cookie }` or a function `(req, ctx) => string | undefined`. Anything
   * missing falls back to the client IP.
   * @default 'ip'
   */
  key: hashKeySchema.default('ip'),
  /**
   * Lookup table size M: a prime, 2..5000011. Each backend gets about
   * M / backends slots, so M should be well above the backend count (the
   * paper suggests M > 100 × backends for < 1% imbalance). Memory is 4 bytes
   * a slot. If there are ever more backends than slots, that build uses the
   * smallest prime >= 100 × backends instead (capped at 5000011), so every
   * backend still gets slots.
   * @default 65537 (Envoy)
   */
  tableSize: z
    .number()
    .int({ error: `a prime number from 2 to ${MAX_MAGLEV_TABLE_SIZE}, such as 65537` })
    .max(MAX_MAGLEV_TABLE_SIZE, { error: `a prime number from 2 to ${MAX_MAGLEV_TABLE_SIZE}, such as 65537` })
    .refine(isPrime, { error: `a prime number from 2 to ${MAX_MAGLEV_TABLE_SIZE}, such as 65537` })
    .default(65_537)
    .meta({ description: 'Lookup table size, a prime from 2 to 5000011. Default 65537.' }),
});

/**
 * Options of the `maglev` strategy, as written by users.
 *
 * @example
 * ```ts
 * import { type MaglevOptions } from './maglev.js';
 * const options: MaglevOptions = { key: { cookie: 'sid' }, tableSize: 131_071 };
 * ```
 */
export interface MaglevOptions {
  /**
   * Where the key comes from: `'ip'`, `{ header, fallback? }`,
   * `{ cookie }` or a function `(req, ctx) => string | undefined`. Anything
   * missing falls back to the client IP. @default 'ip'
   */
  key?: HashKeyOption | undefined;
  /** Lookup table size M, a prime from 2 to 5000011, well above the backend count (4 bytes a slot). @default 65537 */
  tableSize?: number | undefined;
}

/**
 * A Maglev strategy, with its table size for inspection.
 *
 * @example
 * ```ts
 * import { maglev } from './maglev.js';
 * const twentyBackends = Array.from({ length: 20 }, (_, i) => ({ id: `b${i}`, weight: 1, effectiveWeight: 1, active: 0 }));
 * const strategy = maglev({ tableSize: 7 });
 * strategy.update?.(twentyBackends);
 * strategy.tableSize; // 2003: grown, as 7 slots cannot hold 20 backends
 * ```
 */
export interface MaglevStrategy<B extends Candidate = Candidate> extends Strategy<B> {
  /** Size of the current lookup table: `tableSize`, or larger if there are more backends than that. 0 before the first build. */
  readonly tableSize: number;
}

// Seeds of the two per-backend hashes (offset, skip); anything distinct from the key seed.
const OFFSET_SEED = 0x2545f491;
const SKIP_SEED = 0x5bd1e995;

/**
 * Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI 2016), weighted as in Envoy.
 *
 * Each backend gets a permutation of the M table slots,
 * `offset = h1(id) mod M`, `skip = h2(id) mod (M-1) + 1`,
 * `slot_j = (offset + j·skip) mod M`, and backends take turns claiming their
 * next free slot until the table is full. A weight w (relative to the largest,
 * w_max) makes a backend take a turn in only w/w_max of the rounds, so its
 * share of slots follows its weight. Turns go in id order, so every instance
 * builds the same table whatever order backends were added in.
 *
 * Compared with the ring (`consistent-hash`): O(1) per pick (one key hash,
 * one array read), a near-perfectly even spread (slot counts differ by at most
 * one with equal weights), faster builds; but a change in the backend set
 * also moves a small share of other keys (Envoy: about twice as many moved
 * keys as a large ring). When a backend merely becomes ineligible (health,
 * breaker, retry exclusion) the table is not rebuilt: its keys probe the
 * following slots until they reach a candidate, so no other key moves.
 * Weights are the configured `weight`, not `effectiveWeight`, so slow start
 * does not remap keys. MurmurHash3 (see `murmur3`) gives h1, h2 and the key
 * hash.
 *
 * The table is built in `update` and kept until the ids or weights change;
 * building takes O(M log M) time and O(M) memory.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends, strategy: { name: 'maglev', key: { header: 'x-user' } } });
 * ```
 */
export function maglev<B extends Candidate = Candidate>(options: MaglevOptions = {}): MaglevStrategy<B> {
  const config = parseOptions(maglevOptionsSchema, options, 'strategy');
  return new Maglev<B>(createHashKey(config.key), config.tableSize);
}

class Maglev<B extends Candidate> implements MaglevStrategy<B> {
  readonly name = 'maglev';
  readonly #key: HashKey;
  readonly #size: number;
  #built = false;
  #backends: B[] = [];
  #ids: string[] = [];
  #weights: number[] = [];
  #table = new Int32Array(0);
  /** Backends turned down in the current pick (not a candidate). */
  readonly #rejected = new RejectMarks();

  constructor(key: HashKey, size: number) {
    this.#key = key;
    this.#size = size;
  }

  get tableSize(): number {
    return this.#table.length;
  }

  update(backends: readonly B[]): void {
    const list = uniqueById(backends);
    if (this.#built && sameLayout(list, this.#ids, this.#weights)) {
      this.#backends = list;
      return;
    }
    this.#build(list);
  }

  pick(candidates: readonly B[], ctx: SelectionContext): B | undefined {
    if (!this.#built) this.update(candidates);
    const k = candidates.length;
    const table = this.#table;
    const m = table.length;
    const h = this.#key.hash(ctx.req, ctx);
    const n = this.#backends.length;
    if (n === 0 || k === 0) return candidates[h % k];
    let slot = h % m;
    let owner = table[slot]!;
    let c = findCandidate(candidates, this.#backends[owner]!, owner, n);
    if (c !== undefined) return c;
    // Not a candidate: probe the following slots, whose owners are spread like the table.
    const rejected = this.#rejected;
    rejected.begin();
    rejected.mark(owner);
    let distinct = 1;
    for (let step = 1; step < m && distinct < n; step++) {
      slot = slot + 1 === m ? 0 : slot + 1;
      owner = table[slot]!;
      if (rejected.has(owner)) continue;
      c = findCandidate(candidates, this.#backends[owner]!, owner, n);
      if (c !== undefined) return c;
      rejected.mark(owner);
      distinct++;
    }
    return candidates[h % k];
  }

  close(): void {
    this.#backends = [];
    this.#ids = [];
    this.#weights = [];
    this.#table = new Int32Array(0);
    this.#rejected.reset(0);
    this.#built = false;
  }

  #build(list: B[]): void {
    const n = list.length;
    const weights = layoutWeights(list);
    let m = this.#size;
    if (n > m) {
      m = nextPrime(Math.min(100 * n, MAX_MAGLEV_TABLE_SIZE));
      if (m < n) m = nextPrime(n);
    }
    const table = new Int32Array(n === 0 ? 0 : m).fill(-1);
    // Entries in id order; those without weight take no slots.
    const order = Array.from({ length: n }, (_, i) => i)
      .filter((i) => weights[i]! > 0)
      .sort((a, b) => compareIds(list[a]!.id, list[b]!.id));
    const e = order.length;
    if (e > 0) {
      let maxWeight = 0;
      for (const i of order) maxWeight = Math.max(maxWeight, weights[i]!);
      const norm = new Float64Array(e);
      const cursor = new Float64Array(e); // next slot of each permutation
      const skip = new Float64Array(e);
      const taken = new Float64Array(e);
      const turn = new Float64Array(e);
      for (let r = 0; r < e; r++) {
        const id = list[order[r]!]!.id;
        norm[r] = weights[order[r]!]! / maxWeight;
        cursor[r] = murmur3(id, OFFSET_SEED) % m;
        skip[r] = m === 1 ? 1 : (murmur3(id, SKIP_SEED) % (m - 1)) + 1;
        turn[r] = 1;
      }
      // Envoy's rounds: in round t an entry takes a slot iff t·w >= slots taken so far
      // (w normalised to the largest). A heap on (round, id rank) replays those rounds
      // without visiting entries that sit a round out, so tiny weights cost nothing.
      const heap = new MinHeap(e, turn);
      for (let r = 0; r < e; r++) heap.push(r);
      let filled = 0;
      while (filled < m) {
        const r = heap.pop();
        let slot = cursor[r]!;
        while (table[slot]! >= 0) {
          slot += skip[r]!;
          if (slot >= m) slot -= m;
        }
        table[slot] = order[r]!;
        filled++;
        slot += skip[r]!;
        cursor[r] = slot >= m ? slot - m : slot;
        taken[r]! += 1;
        turn[r] = nextTurn(turn[r]!, taken[r]!, norm[r]!);
        heap.push(r);
      }
    }
    this.#backends = list;
    this.#ids = list.map((b) => b.id);
    this.#weights = list.map((b) => b.weight);
    this.#table = table;
    this.#rejected.reset(n);
    this.#built = true;
  }
}

/** The first round after `previous` in which `round · w >= taken` (Envoy's test, evaluated the same way). */
function nextTurn(previous: number, taken: number, w: number): number {
  let t = Math.max(previous + 1, Math.ceil(taken / w));
  // Beyond 2^52 rounds, t + 1 === t: a weight this small next to the largest never gets another turn.
  if (!(t < 2 ** 52)) return Number.POSITIVE_INFINITY;
  while (t * w < taken) t++;
  while (t - 1 > previous && (t - 1) * w >= taken) t--;
  return t;
}

/** A binary min-heap of entry indices ordered by (`turn[i]`, `i`). */
class MinHeap {
  readonly #items: Int32Array;
  readonly #turn: Float64Array;
  #size = 0;

  constructor(capacity: number, turn: Float64Array) {
    this.#items = new Int32Array(capacity);
    this.#turn = turn;
  }

  #less(a: number, b: number): boolean {
    const ta = this.#turn[a]!;
    const tb = this.#turn[b]!;
    return ta < tb || (ta === tb && a < b);
  }

  push(x: number): void {
    const items = this.#items;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(x, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = x;
  }

  pop(): number {
    const items = this.#items;
    const top = items[0]!;
    const last = items[--this.#size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.#size) break;
      if (child + 1 < this.#size && this.#less(items[child + 1]!, items[child]!)) child++;
      if (!this.#less(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
