import type { Counter, Gauge, Histogram } from 'prom-client';
import { isLeanHistogram, type LeanHistogram, type LeanSeries } from './lean-histogram.js';

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * A counter child that adds up increments in a plain number and hands the
 * sum to prom-client when the registry is read: an increment on the request
 * path is one addition instead of prom-client's label hashing and validation.
 */
export class CounterChild {
  pending = 0;
  readonly #child: Counter.Internal;

  constructor(child: Counter.Internal) {
    this.#child = child;
  }

  inc(value = 1): void {
    this.pending += value;
  }

  /** Moves the pending sum into prom-client. */
  flush(): void {
    if (this.pending > 0) {
      this.#child.inc(this.pending);
      this.pending = 0;
    }
  }
}

/** The child a family hands out for one label set. */
export type ChildOf<M> = M extends LeanHistogram
  ? LeanSeries
  : M extends Histogram<string>
    ? Histogram.Internal<string>
    : M extends Gauge<string>
      ? Gauge.Internal<string>
      : M extends Counter<string>
        ? CounterChild
        : never;

interface Leaf<C> {
  readonly labels: Record<string, string>;
  readonly child: C;
}

type Node<C> = Map<string, Node<C> | Leaf<C>>;

/**
 * The labelled children of one metric, created once per label set and found
 * again through nested maps: a hot-path lookup is one `Map.get` per label and
 * allocates nothing. Children can be dropped by their first label (the
 * backend), so a backend that leaves takes its series with it. Counter
 * children defer their increments until {@link flush} (from `collect`).
 *
 * @example
 * ```ts
 * import { Family } from './family.js';
 * declare const counter: import('prom-client').Counter<string>;
 * const retries = new Family(counter, ['backend', 'reason'], {});
 * retries.child('a', 'reset').inc();
 * retries.drop('a');
 * ```
 */
export class Family<M extends AnyMetric> {
  readonly #metric: M;
  readonly #names: readonly string[];
  readonly #constant: Readonly<Record<string, string>>;
  readonly #deferred: boolean;
  #root: Node<ChildOf<M>> = new Map();

  /**
   * @param names label names, in the order `child` takes their values
   * @param constant labels every child carries (the balancer's `defaultLabels`)
   */
  constructor(metric: M, names: readonly string[], constant: Readonly<Record<string, string>>) {
    this.#metric = metric;
    this.#names = names;
    this.#constant = constant;
    // Counters defer: the metric's `collect` must call flush() (see BalancerMetrics).
    this.#deferred = (metric as { type?: string }).type === 'counter';
  }

  /** Hands pending counter increments to prom-client; call it from the metric's `collect`. */
  flush(): void {
    if (this.#deferred) this.#flushAll(this.#root);
  }

  #flushAll(node: Node<ChildOf<M>>): void {
    for (const inner of node.values()) {
      if (inner instanceof Map) this.#flushAll(inner);
      else (inner.child as CounterChild).flush();
    }
  }

  /** The child for these label values, one per name given to the constructor. */
  child(a: string, b?: string, c?: string): ChildOf<M> {
    const depth = this.#names.length;
    let node = this.#root;
    let found = node.get(a);
    if (depth > 1) {
      if (found === undefined) {
        found = new Map();
        node.set(a, found);
      }
      node = found as Node<ChildOf<M>>;
      found = node.get(b as string);
      if (depth > 2) {
        if (found === undefined) {
          found = new Map();
          node.set(b as string, found);
        }
        node = found as Node<ChildOf<M>>;
        found = node.get(c as string);
      }
    }
    if (found !== undefined) return (found as Leaf<ChildOf<M>>).child;
    const values = [a, b, c];
    const labels: Record<string, string> = { ...this.#constant };
    for (let i = 0; i < depth; i++) labels[this.#names[i] as string] = values[i] as string;
    let made: unknown;
    if (isLeanHistogram(this.#metric)) made = this.#metric.series(labels);
    else {
      const child = (this.#metric as Counter<string>).labels(labels);
      made = this.#deferred ? new CounterChild(child) : child;
    }
    const leaf: Leaf<ChildOf<M>> = { labels, child: made as ChildOf<M> };
    node.set(depth === 1 ? a : depth === 2 ? (b as string) : (c as string), leaf);
    return leaf.child;
  }

  /** Removes every series whose first label is `value`. */
  drop(value: string): void {
    const node = this.#root.get(value);
    if (node === undefined) return;
    this.#root.delete(value);
    this.#removeAll(node);
  }

  /** Removes every series. */
  clear(): void {
    const root = this.#root;
    this.#root = new Map();
    this.#removeAll(root);
  }

  #removeAll(node: Node<ChildOf<M>> | Leaf<ChildOf<M>>): void {
    if (node instanceof Map) {
      for (const inner of node.values()) this.#removeAll(inner);
      return;
    }
    (this.#metric as Counter<string>).remove(node.labels);
  }
}
