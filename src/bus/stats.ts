import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read

/**
 * Latency histogram with logarithmic buckets (8 per power of two, so about 9% resolution),
 * fixed memory, O(1) record: enough for p50/p99 per peer without keeping samples.
 *
 * It may hold a sample: `count` counts every call (`record` and `skip`), the quantiles and the
 * mean come from the timed ones (`record`). A clock read costs about one `await fn()`, so the bus
 * times a sample of its in-process calls rather than every one (see Calls.start).
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(256);
  /** Every call counted, timed or not. */
  #count = 0;
  /** The timed ones (the sum of #counts). */
  #timed = 0;
  #max = 0;
  #sum = 0;
  /**
   * The recent window, for live views: the counts at the last rollover and the records between the
   * two rollovers before now. Kept only once someone reads a summary (record() never touches them),
   * rolled over lazily by summary() at most once a second: a histogram nobody reads costs nothing more.
   */
  #mark: Uint32Array | undefined;
  #recent: Uint32Array | undefined;
  #markCount = 0;
  #recentCount = 0;
  #recentTimed = 0;
  #markTimed = 0;
  #markedAt = 0;
  #recentMs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    const i = us < 1 ? 0 : Math.min(255, Math.floor(Math.log2(us) * 8) + 1);
    this.#counts[i]!++;
    this.#count++;
    this.#timed++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** Counts one call whose latency was not timed (it is outside the sample). */
  skip(): void {
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  /** The latency (ms) under which a fraction `q` of the timed records fall (upper edge of its bucket). */
  quantile(q: number): number {
    return quantileOf(this.#counts, this.#timed, q, this.#max);
  }

  summary(): { count: number; meanMs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; recent: RecentLatency } {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    const recent = this.#roll();
    return {
      count: this.#count,
      meanMs: r(this.#timed ? this.#sum / this.#timed : 0),
      p50Ms: r(this.quantile(0.5)),
      p90Ms: r(this.quantile(0.9)),
      p99Ms: r(this.quantile(0.99)),
      maxMs: r(this.#max),
      recent: { count: this.#recentCount, windowMs: Math.round(this.#recentMs), p50Ms: r(quantileOf(recent, this.#recentTimed, 0.5, this.#max)), p99Ms: r(quantileOf(recent, this.#recentTimed, 0.99, this.#max)) },
    };
  }

  /** The last complete window (at least a second long, rolled over here), as bucket counts. */
  #roll(): Uint32Array {
    const now = performance.now();
    if (!this.#mark) {
      this.#mark = this.#counts.slice();
      this.#recent = new Uint32Array(256);
      this.#markCount = this.#count;
      this.#markTimed = this.#timed;
      this.#markedAt = now;
      return this.#recent;
    }
    if (now - this.#markedAt >= 1000) {
      const recent = this.#recent!;
      for (let i = 0; i < 256; i++) recent[i] = this.#counts[i]! - this.#mark[i]!;
      this.#recentCount = this.#count - this.#markCount;
      this.#recentTimed = this.#timed - this.#markTimed;
      this.#recentMs = now - this.#markedAt;
      this.#mark.set(this.#counts);
      this.#markCount = this.#count;
      this.#markTimed = this.#timed;
      this.#markedAt = now;
    }
    return this.#recent!;
  }
}

/** Latency over the last window of a histogram (what a live view plots; the totals are since the start). */
export interface RecentLatency {
  /** Records in the window. */
  count: number;
  /** How long the window was (at least 1000 ms; longer when nobody read in between). */
  windowMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** The upper edge (ms) of the bucket under which a fraction `q` of `total` records in `counts` fall. */
function quantileOf(counts: Uint32Array, total: number, q: number, max: number): number {
  if (!total) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < 256; i++) {
    seen += counts[i]!;
    if (seen >= rank) return Math.min(max, i === 0 ? 0.001 : 2 ** (i / 8) / 1000);
  }
  return max;
}

/**
 * Per-peer circuit breaker: after `threshold` timeouts or losses in a row, calls to the peer fail
 * fast with -32005 for `cooldownMs`; then one trial call is let through (half-open).
 */
export class CircuitBreaker {
  #failures = 0;
  #openUntil = 0;
  #trial = false;
  constructor(
    readonly threshold = 5,
    readonly cooldownMs = 1000,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.#failures < this.threshold) return 'closed';
    return performance.now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** May a call go through now? */
  allow(): boolean {
    if (this.#failures < this.threshold) return true;
    if (performance.now() < this.#openUntil) return false;
    if (this.#trial) return false;
    this.#trial = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#trial = false;
  }

  failure(): void {
    this.#failures++;
    this.#trial = false;
    if (this.#failures >= this.threshold) this.#openUntil = performance.now() + this.cooldownMs;
  }
}
