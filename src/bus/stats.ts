import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read

/**
 * Latency histogram with logarithmic buckets (8 per power of two, so about 9% resolution),
 * fixed memory, O(1) record: enough for p50/p99 per peer without keeping samples.
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(256);
  #count = 0;
  #max = 0;
  #sum = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    const i = us < 1 ? 0 : Math.min(255, Math.floor(Math.log2(us) * 8) + 1);
    this.#counts[i]!++;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#count;
  }

  /** The latency (ms) under which a fraction `q` of the records fall (upper edge of its bucket). */
  quantile(q: number): number {
    if (!this.#count) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let i = 0; i < 256; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.#max, i === 0 ? 0.001 : 2 ** (i / 8) / 1000);
    }
    return this.#max;
  }

  summary(): { count: number; meanMs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number } {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    return {
      count: this.#count,
      meanMs: r(this.#count ? this.#sum / this.#count : 0),
      p50Ms: r(this.quantile(0.5)),
      p90Ms: r(this.quantile(0.9)),
      p99Ms: r(this.quantile(0.99)),
      maxMs: r(this.#max),
    };
  }
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
