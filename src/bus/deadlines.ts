/**
 * Deadlines for many in-flight requests without a timer each: entries sit in 8ms buckets of a
 * wheel driven by one unref'd timer that runs only while something is pending. Adding and
 * cancelling are a Set operation; a deadline fires at most one tick late.
 */
export interface DeadlineEntry {
  /** `performance.now()` at which it expires. */
  readonly deadline: number;
  /** The wheel's bookkeeping (which bucket holds the entry). */
  wheelKey?: number;
  expire(): void;
}

const TICK_MS = 8;

export class DeadlineWheel {
  readonly #buckets = new Map<number, Set<DeadlineEntry>>();
  #timer: NodeJS.Timeout | undefined;
  #count = 0;
  /** Every bucket up to this key has been expired. */
  #cursor = 0;

  get size(): number {
    return this.#count;
  }

  add(entry: DeadlineEntry): void {
    if (!this.#timer) {
      this.#cursor = Math.floor(performance.now() / TICK_MS);
      this.#timer = setInterval(() => this.#tick(), TICK_MS).unref();
    }
    const key = Math.max(Math.ceil(entry.deadline / TICK_MS), this.#cursor + 1);
    entry.wheelKey = key;
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = new Set()));
    bucket.add(entry);
    this.#count++;
  }

  delete(entry: DeadlineEntry): void {
    const key = entry.wheelKey;
    if (key === undefined) return;
    entry.wheelKey = undefined;
    // Emptied buckets stay until the tick sweeps them, and the timer runs until a tick finds the
    // wheel empty: sequential requests would otherwise create and clear a timer (and a Set) each.
    if (this.#buckets.get(key)?.delete(entry)) this.#count--;
  }

  #tick(): void {
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

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
