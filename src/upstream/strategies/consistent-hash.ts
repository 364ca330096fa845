import { z } from 'zod';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { parseOptions } from '../../core/zod.js';
import {
  compareIds,
  findCandidate,
  isPositiveWeight,
  layoutWeights,
  RejectMarks,
  sameLayout,
  uniqueById,
} from './candidates.js';
import { PreparedMurmur3 } from './hash.js';
import { createHashKey, type HashKey, type HashKeyOption, hashKeySchema } from './hash-key.js';

/**
 * Options of the `consistent-hash` strategy.
 *
 * @example
 * ```ts
 * import { consistentHashOptionsSchema } from './consistent-hash.js';
 * consistentHashOptionsSchema.parse({ key: { cookie: 'sid' } });
 * // { key: { cookie: 'sid' }, virtualNodes: 160 }
 * ```
 */
export const consistentHashOptionsSchema = z.strictObject({
  /**
   * Where the key comes from: `'ip'`, `{ header, fallback? }`,
   * `{ cookie }` or a function `(req, ctx) => string | undefined`. Anything
   * missing falls back to the client IP.
   * @default 'ip'
   */
  key: hashKeySchema.default('ip'),
  /**
   * Points on the ring per unit of weight. More points spread keys more evenly
   * (spread ~ 1/sqrt(points)) but cost memory (8 bytes a point) and build
   * time. An integer, 1..10000. The ring is capped at 8,388,608 points
   * (Envoy's maximum ring size); above that, every backend's count is scaled
   * down in proportion.
   * @default 160 (NGINX `hash ... consistent`, ketama)
   */
  virtualNodes: z
    .number()
    .int({ error: 'an integer from 1 to 10000' })
    .min(1, { error: 'an integer from 1 to 10000' })
    .max(10_000, { error: 'an integer from 1 to 10000' })
    .default(160)
    .meta({ description: 'Ring points per unit of weight, 1..10000. Default 160.' }),
  /**
   * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam;
   * HAProxy `hash-balance-factor`): no backend takes more than
   * `ceil((in-flight + 1) × balanceFactor × its weight share)` requests in
   * flight; a key whose backend is at capacity walks on around the ring to
   * the next one with room. A number > 1: 1.25 (HAProxy's 125) caps any
   * backend at 25% above the average; larger keeps more affinity, smaller
   * balances harder. Omit to disable (pure consistent hashing, affinity
   * only). Costs an O(candidates) sum on picks whose backend has requests
   * in flight.
   * @default undefined (off)
   */
  balanceFactor: z
    .number()
    .finite()
    .gt(1, { error: 'a number > 1, such as 1.25 (HAProxy hash-balance-factor 125)' })
    .optional()
    .meta({ description: 'Bounded-load factor > 1 (1.25 = at most 25% above average). Default off.' }),
});

/**
 * Options of the `consistent-hash` strategy, as written by users.
 *
 * @example
 * ```ts
 * import { type ConsistentHashOptions } from './consistent-hash.js';
 * const options: ConsistentHashOptions = { key: 'ip', balanceFactor: 1.25 };
 * ```
 */
export interface ConsistentHashOptions {
  /**
   * Where the key comes from: `'ip'`, `{ header, fallback? }`,
   * `{ cookie }` or a function `(req, ctx) => string | undefined`. Anything
   * missing falls back to the client IP. @default 'ip'
   */
  key?: HashKeyOption | undefined;
  /** Points on the ring per unit of weight, an integer from 1 to 10000 (the ring is capped at 8,388,608 points). @default 160 */
  virtualNodes?: number | undefined;
  /**
   * Bounded loads: no backend takes more than
   * `ceil((in-flight + 1) × balanceFactor × its weight share)` requests in
   * flight; a number > 1 (1.25 caps any backend at 25% above the average).
   * @default undefined (off: pure consistent hashing)
   */
  balanceFactor?: number | undefined;
}

/**
 * Largest ring, in points (Envoy's `maximum_ring_size` default).
 *
 * @example
 * ```ts
 * import { MAX_RING_POINTS } from './consistent-hash.js';
 * MAX_RING_POINTS; // 8388608
 * ```
 */
export const MAX_RING_POINTS = 8 * 1024 * 1024;

/**
 * Consistent hashing on a ring with virtual nodes (Karger et al.; the ketama
 * layout NGINX `hash ... consistent` uses: 160 points per unit of weight).
 * Each backend id is hashed to `virtualNodes × weight` points; a request's key
 * goes to the first point clockwise from its hash (binary search, O(log
 * points)).
 *
 * - Adding a backend takes over only the keys that now land on its points
 *   (~1/(N+1) of them); removing one moves only its own keys. Points depend
 *   only on a backend's id and weight, never on the order backends were
 *   added, so every balancer instance builds the same ring.
 * - When the hashed-to backend is not a candidate (unhealthy, breaker open,
 *   or already tried by a retry), the walk goes on clockwise to the next
 *   backend that is, so keys of healthy backends never move when another
 *   fails, and a failed backend's keys spread over many others.
 * - With `balanceFactor`, loads are bounded (see the option).
 * - Weights are the configured `weight`, not `effectiveWeight`: slow start
 *   must not remap keys while it ramps.
 *
 * The ring is built in `update` and kept until the set of ids or weights
 * changes. Per pick: one key hash, one binary search, and a check that the
 * backend is a candidate (one comparison when nothing is filtered out).
 * MurmurHash3 (see `murmur3`) places points and keys.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends, strategy: { name: 'consistent-hash', key: { cookie: 'session' }, balanceFactor: 1.25 } });
 * ```
 */
export function consistentHash<B extends Candidate = Candidate>(options: ConsistentHashOptions = {}): Strategy<B> {
  const config = parseOptions(consistentHashOptionsSchema, options, 'strategy');
  return new ConsistentHashRing<B>(createHashKey(config.key), config.virtualNodes, config.balanceFactor ?? 0);
}

class ConsistentHashRing<B extends Candidate> implements Strategy<B> {
  readonly name = 'consistent-hash';
  readonly #key: HashKey;
  readonly #virtualNodes: number;
  readonly #balanceFactor: number;
  #built = false;
  /** Backends in `update` order; ring owners index into it. */
  #backends: B[] = [];
  #ids: string[] = [];
  #weights: number[] = [];
  #hashes = new Uint32Array(0);
  #owners = new Int32Array(0);
  /** Backends turned down in the current pick (not a candidate, or full). */
  readonly #rejected = new RejectMarks();
  /** Per pick, lazily: sum of `active` and of weights over the candidates. */
  #loadKnown = false;
  #totalActive = 0;
  #totalWeight = 0;

  constructor(key: HashKey, virtualNodes: number, balanceFactor: number) {
    this.#key = key;
    this.#virtualNodes = virtualNodes;
    this.#balanceFactor = balanceFactor;
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
    const hashes = this.#hashes;
    const total = hashes.length;
    const h = this.#key.hash(ctx.req, ctx);
    if (total === 0 || k === 0) return candidates[h % k];
    let lo = 0;
    let hi = total;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    let at = lo === total ? 0 : lo;
    this.#loadKnown = false;
    const owners = this.#owners;
    const backends = this.#backends;
    const n = backends.length;
    let owner = owners[at]!;
    const first = this.#accept(candidates, owner, n);
    if (first !== undefined) return first;
    // Walk clockwise to the next distinct backend that is a candidate with room.
    const rejected = this.#rejected;
    rejected.begin();
    rejected.mark(owner);
    let distinct = 1;
    for (let step = 1; step < total && distinct < n; step++) {
      at = at + 1 === total ? 0 : at + 1;
      owner = owners[at]!;
      if (rejected.has(owner)) continue;
      const c = this.#accept(candidates, owner, n);
      if (c !== undefined) return c;
      rejected.mark(owner);
      distinct++;
    }
    // Only candidates the ring does not know (update not called for them), or weightless ones.
    return candidates[h % k];
  }

  close(): void {
    this.#backends = [];
    this.#ids = [];
    this.#weights = [];
    this.#hashes = new Uint32Array(0);
    this.#owners = new Int32Array(0);
    this.#rejected.reset(0);
    this.#built = false;
  }

  /** The candidate that is backend `owner`, if it is one and (with bounded loads) has room. */
  #accept(candidates: readonly B[], owner: number, n: number): B | undefined {
    const c = findCandidate(candidates, this.#backends[owner]!, owner, n);
    if (c === undefined || this.#balanceFactor === 0 || c.active <= 0) return c;
    if (!this.#loadKnown) this.#measure(candidates);
    const share = this.#totalWeight > 0 ? ringWeight(c.weight) / this.#totalWeight : 1 / candidates.length;
    const capacity = Math.ceil((this.#totalActive + 1) * this.#balanceFactor * share);
    return c.active < capacity ? c : undefined;
  }

  #measure(candidates: readonly B[]): void {
    let active = 0;
    let weight = 0;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      if (c.active > 0) active += c.active;
      weight += ringWeight(c.weight);
    }
    this.#totalActive = active;
    this.#totalWeight = weight;
    this.#loadKnown = true;
  }

  #build(list: B[]): void {
    const n = list.length;
    const weights = layoutWeights(list);
    const points = new Array<number>(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      points[i] = w > 0 ? Math.max(1, Math.round(this.#virtualNodes * w)) : 0;
      total += points[i]!;
    }
    if (total > MAX_RING_POINTS) {
      const scale = MAX_RING_POINTS / total;
      total = 0;
      for (let i = 0; i < n; i++) {
        if (points[i]! > 0) points[i] = Math.max(1, Math.floor(points[i]! * scale));
        total += points[i]!;
      }
    }
    // Points are laid down in id order and sorted stably by hash, so equal
    // hashes are ordered by id whatever order the backends came in.
    const byId = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareIds(list[a]!.id, list[b]!.id));
    const hashes = new Uint32Array(total);
    const owners = new Int32Array(total);
    let j = 0;
    for (const i of byId) {
      const prepared = new PreparedMurmur3(list[i]!.id);
      for (let p = 0; p < points[i]!; p++) {
        hashes[j] = prepared.hash(p);
        owners[j++] = i;
      }
    }
    radixSort(hashes, owners);
    this.#backends = list;
    this.#ids = list.map((b) => b.id);
    this.#weights = list.map((b) => b.weight);
    this.#hashes = hashes;
    this.#owners = owners;
    this.#rejected.reset(n);
    this.#built = true;
  }
}

/**
 * Stable LSD radix sort of 32-bit `keys` (four 8-bit passes, so the 256
 * buckets stay in cache), moving `values` along: O(n), several times faster
 * than a comparison sort for rings of millions of points.
 */
function radixSort(keys: Uint32Array, values: Int32Array): void {
  const tmpKeys = new Uint32Array(keys.length);
  const tmpValues = new Int32Array(values.length);
  const count = new Uint32Array(257);
  radixPass(keys, values, tmpKeys, tmpValues, 0, count);
  radixPass(tmpKeys, tmpValues, keys, values, 8, count);
  radixPass(keys, values, tmpKeys, tmpValues, 16, count);
  radixPass(tmpKeys, tmpValues, keys, values, 24, count);
}

function radixPass(
  fromKeys: Uint32Array,
  fromValues: Int32Array,
  toKeys: Uint32Array,
  toValues: Int32Array,
  shift: number,
  count: Uint32Array,
): void {
  const n = fromKeys.length;
  count.fill(0);
  for (let i = 0; i < n; i++) count[((fromKeys[i]! >>> shift) & 0xff) + 1]!++;
  for (let d = 1; d <= 256; d++) count[d]! += count[d - 1]!;
  for (let i = 0; i < n; i++) {
    const key = fromKeys[i]!;
    const at = count[(key >>> shift) & 0xff]!++;
    toKeys[at] = key;
    toValues[at] = fromValues[i]!;
  }
}

/** Weight for ring shares and bounded-load capacity: bad weights count as 1, as when all are bad. */
function ringWeight(w: number): number {
  return isPositiveWeight(w) ? w : 1;
}
