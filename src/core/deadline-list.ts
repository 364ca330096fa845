/**
 * An entry of a {@link DeadlineList}. The links live on the entry itself,
 * so arming a timeout allocates nothing.
 */
export interface Due {
  /** `performance.now()` time the entry is due at. */
  dueAt: number;
  dueNext: Due | undefined;
  duePrev: Due | undefined;
  /** The list the entry waits in, if any. */
  dueList: object | undefined;
}

function onTimer(list: DeadlineList<Due>): void {
  list.sweep();
}

/**
 * Entries that all time out after the same `ms` (an upstream attempt's
 * connect or response timeout), in the order they were added, which is the
 * order they fall due: one timer for the whole list instead of one
 * `setTimeout` per entry. Adding and removing are O(1) and allocate nothing.
 * The timer fires `onDue` for each entry once its `ms` have passed (not
 * before; at most a timer tick later). It holds the process open only while
 * the list holds an entry: a list that empties keeps its timer, unreferenced,
 * which fires once more and finds nothing, rather than clearing it and
 * making a new one for the next entry (the common case under load, where a
 * list empties and fills again every few requests). {@link clear} drops it.
 *
 * @example
 * ```ts
 * import { DeadlineList, type Due } from './deadline-list.js';
 * interface Job extends Due { name: string }
 * const list = new DeadlineList<Job>(5000, (job) => console.log(`${job.name} timed out`));
 * const job: Job = { name: 'a', dueAt: 0, dueNext: undefined, duePrev: undefined, dueList: undefined };
 * list.add(job);
 * list.remove(job); // done in time
 * ```
 */
export class DeadlineList<T extends Due> {
  /** How long each entry waits, in ms. */
  readonly ms: number;
  readonly #onDue: (entry: T) => void;
  #head: T | undefined;
  #tail: T | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The due time the timer was set for. */
  #timerAt = 0;

  constructor(ms: number, onDue: (entry: T) => void) {
    this.ms = ms;
    this.#onDue = onDue;
  }

  /** Adds `entry` (removing it first from the list it is in, if any): due `ms` from now. */
  add(entry: T): void {
    if (entry.dueList !== undefined) (entry.dueList as DeadlineList<T>).remove(entry);
    entry.dueAt = performance.now() + this.ms;
    entry.dueList = this;
    entry.dueNext = undefined;
    entry.duePrev = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.dueNext = entry;
    this.#tail = entry;
    // A timer left from when the list emptied fires by the time this entry is due, and re-arms for it.
    if (this.#timer === undefined) this.#arm(this.ms, entry.dueAt);
    else this.#timer.ref();
  }

  /** Takes `entry` out of the list (it is then never due); nothing when it is not in it. */
  remove(entry: T): void {
    if (entry.dueList !== this) return;
    const prev = entry.duePrev as T | undefined;
    const next = entry.dueNext as T | undefined;
    if (prev === undefined) this.#head = next;
    else prev.dueNext = next;
    if (next === undefined) this.#tail = prev;
    else next.duePrev = prev;
    entry.dueList = undefined;
    entry.dueNext = undefined;
    entry.duePrev = undefined;
    // Nothing waits: the timer no longer holds the process (and is kept for the next entry).
    if (this.#head === undefined) this.#timer?.unref();
  }

  /** Fires the entries that are due, then sets the timer for the next one. Called by the timer. */
  sweep(): void {
    this.#timer = undefined;
    // The timer was set for #timerAt: everything due by then is due now, whatever the clock says.
    const now = Math.max(performance.now(), this.#timerAt);
    let entry = this.#head;
    while (entry !== undefined && entry.dueAt <= now) {
      this.remove(entry);
      this.#onDue(entry);
      entry = this.#head;
    }
    if (entry !== undefined && this.#timer === undefined) this.#arm(Math.max(1, entry.dueAt - now), entry.dueAt);
  }

  /** Drops every entry and the timer (none fires). */
  clear(): void {
    for (let entry = this.#head; entry !== undefined; entry = this.#head) this.remove(entry);
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(delay: number, at: number): void {
    this.#timerAt = at;
    this.#timer = setTimeout(onTimer, delay, this as unknown as DeadlineList<Due>);
  }
}
