import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read

/**
 * Deadlines for many in-flight requests without a timer each: entries sit in 8ms buckets of a
 * wheel driven by one unref'd timer that runs only while something is pending. A deadline fires
 * at most one tick late.
 *
 * Most requests are answered well within a tick, so a new entry first goes in a slot of a plain
 * array of young entries; only those still pending at the next tick are filed into their bucket (a
 * Set). Removing a young entry empties its slot: the common short request never touches a hash
 * table (whose backing store is reallocated as it empties and refills), and nothing keeps an
 * answered request alive until the next tick.
 *
 * An entry's deadline is read when it is filed, not when it is added: an in-process call reads the
 * clock for its start only then, if nothing needed it before (see Call), so the filing tick is
 * where its deadline starts to count. Filing also tells the entry (`filed`): an in-process call
 * joins its target's list of calls in flight only then (see CallList), so the common short call is
 * written into no long-lived object at all.
 *
 * The young slots are a fresh array each time they are filed: an array that lived long enough to
 * be promoted to the old generation makes every store of a new entry into it go through V8's write
 * barrier (an old object pointing to a young one is recorded for the next scavenge), which cost
 * more than the array (2 KB per 256 entries).
 */
export interface DeadlineEntry {
  /** `performance.now()` at which it expires (read when the entry is filed). */
  readonly deadline: number;
  /** The wheel's bookkeeping: its young slot (negative), its bucket's key, or undefined when not in the wheel. */
  wheelKey?: number | undefined;
  expire(): void;
  /** Called when it leaves the young slots for its bucket (still pending past a tick, or at a flush). */
  filed?(): void;
}

const TICK_MS = 8;
/** `wheelKey` of the entry in young slot i (bucket keys are positive), and back. */
const youngKey = (slot: number) => -1 - slot;
const youngSlot = (key: number) => -1 - key;
/**
 * Young slots at most: past that the pending ones are filed at once. Ticks are timers, and a loop
 * of in-process calls that only awaits microtasks never lets one run.
 */
const YOUNG_SLOTS = 256;

export class DeadlineWheel {
  readonly #buckets = new Map<number, Set<DeadlineEntry>>();
  /** Entries added since the last filing: the first #youngCount slots, emptied as entries are removed. */
  #young: (DeadlineEntry | undefined)[] = new Array<DeadlineEntry | undefined>(YOUNG_SLOTS).fill(undefined);
  #youngCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #count = 0;
  /** Every bucket up to this key has been expired. */
  #cursor = 0;

  get size(): number {
    return this.#count;
  }

  /** Adds an entry (once: an entry is in the wheel at most once). */
  add(entry: DeadlineEntry): void {
    if (!this.#timer) this.#start();
    if (this.#youngCount === YOUNG_SLOTS) this.#fileYoung();
    const slot = this.#youngCount++;
    entry.wheelKey = youngKey(slot);
    this.#young[slot] = entry;
    this.#count++;
  }

  delete(entry: DeadlineEntry): void {
    const key = entry.wheelKey;
    if (key === undefined) return;
    entry.wheelKey = undefined;
    if (key < 0) {
      this.#young[youngSlot(key)] = undefined;
      this.#count--;
      return;
    }
    // Emptied buckets stay until the tick sweeps them, and the timer runs until a tick finds the
    // wheel empty: sequential requests would otherwise create and clear a timer (and a Set) each.
    if (this.#buckets.get(key)?.delete(entry)) this.#count--;
  }

  #file(entry: DeadlineEntry): void {
    const key = Math.max(Math.ceil(entry.deadline / TICK_MS), this.#cursor + 1);
    entry.wheelKey = key;
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = new Set()));
    bucket.add(entry);
  }

  /**
   * Files the young entries still pending into their buckets now: whoever lists the calls in flight
   * (an endpoint's end, the bus's close) sees them all, each counting its deadline from now at the
   * latest.
   */
  flush(): void {
    this.#fileYoung();
  }

  /** The young entries still pending go to their buckets; the slots start again in a fresh array. */
  #fileYoung(): void {
    const n = this.#youngCount;
    if (n === 0) return;
    const young = this.#young;
    this.#young = new Array<DeadlineEntry | undefined>(YOUNG_SLOTS).fill(undefined);
    this.#youngCount = 0;
    for (let i = 0; i < n; i++) {
      const e = young[i];
      if (e === undefined) continue;
      this.#file(e);
      e.filed?.();
    }
  }

  #tick(): void {
    // Young entries first (an overdue one to the next bucket, which this tick expires: at most
    // one tick late, as if it had been filed at once).
    this.#fileYoung();
    const until = Math.floor(performance.now() / TICK_MS);
    const due: DeadlineEntry[] = [];
    for (let k = this.#cursor + 1; k <= until; k++) {
      const bucket = this.#buckets.get(k);
      if (!bucket) continue;
      this.#buckets.delete(k);
      for (const e of bucket) {
        e.wheelKey = undefined;
        due.push(e);
      }
    }
    this.#cursor = until;
    this.#count -= due.length;
    if (this.#count === 0) {
      this.#stop();
      this.#buckets.clear();
    }
    for (const e of due) e.expire();
  }

  /**
   * Apart from add, so that add's optimized code does not embed the timer's objects: a full GC
   * after the timer stopped collected them and deoptimized add (`--trace-deopt`: "weak objects")
   * and whatever inlined it, on every request's path.
   */
  #start(): void {
    this.#cursor = Math.floor(performance.now() / TICK_MS);
    this.#timer = setInterval(() => this.#tick(), TICK_MS).unref();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
