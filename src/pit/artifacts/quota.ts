/**
 * What each caller may keep in the Artifact Store: the bytes of the records it stored (live and
 * archived; a delete gives them back), counted per caller identity (the bus's, from its token, or
 * the caller a deputy acts for). The store's `quotaBytes` setting is every caller's default; the
 * Orchestra sets an extension's own from its grant (`limits.artifactsBytes`). The kernel's own
 * in-process calls are not counted. Bytes being written (a put or an upload not yet committed) are
 * reserved, so concurrent writes cannot pass the quota together.
 */
import { OverloadedError } from '../../bus/index.js';

/**
 * A put or an upload chunk that would take its caller past its quota. Code -32005 (overloaded:
 * a budget is spent); `data.reason` is `'quota'`, with the caller, its quota and what it holds.
 * Nothing of the refused write is kept.
 */
export class ArtifactQuotaError extends OverloadedError {
  override name = 'ArtifactQuotaError';
  constructor(message: string, data: { caller: string; quotaBytes: number; usedBytes: number; askedBytes: number; name?: string }) {
    super(message, { reason: 'quota', ...data });
  }
}

export class CallerQuotas {
  /** Per-caller quotas set by the operator's grants (they replace the default for that caller). */
  readonly #own = new Map<string, number>();
  /** Bytes reserved by writes in progress, per caller. */
  readonly #reserved = new Map<string, number>();
  /** Refusals per caller, for a log that names the first and then every 100th. */
  readonly #refusals = new Map<string, number>();

  constructor(
    /** Every caller's quota unless its grant says otherwise; undefined: none. */
    readonly defaultBytes: number | undefined,
    /** Bytes the caller's records hold now (from the index). */
    readonly usedBy: (caller: string) => number,
  ) {}

  /** Sets (bytes) or clears (undefined: back to the default) one caller's quota. */
  set(caller: string, bytes: number | undefined): void {
    if (bytes === undefined) this.#own.delete(caller);
    else this.#own.set(caller, bytes);
  }

  /** Hands the per-caller quotas to another (a store's quotas set before it opened its index). */
  copyTo(other: CallerQuotas): void {
    for (const [caller, bytes] of this.#own) other.set(caller, bytes);
  }

  limitOf(caller: string): number | undefined {
    return this.#own.get(caller) ?? this.defaultBytes;
  }

  /**
   * Reserves `bytes` more for `caller`, or throws ArtifactQuotaError when its records, its writes
   * in progress and these would pass its quota. Returns the release (call it once, when the write
   * is committed or abandoned: from then on the index counts the bytes, or nobody does).
   */
  reserve(caller: string | undefined, bytes: number, what: string, onRefused?: (err: ArtifactQuotaError, refusals: number) => void): () => void {
    if (caller === undefined) return () => {};
    const limit = this.limitOf(caller);
    const reserved = this.#reserved.get(caller) ?? 0;
    if (limit !== undefined) {
      const used = this.usedBy(caller) + reserved;
      if (used + bytes > limit) {
        const err = new ArtifactQuotaError(`${what}: '${caller}' is over its artifact quota: it holds ${used} bytes of its ${limit} and asks ${bytes} more; delete some of its artifacts, or raise its quota (the pit's artifacts.quotaBytes, or limits.artifactsBytes in its grant)`, { caller, quotaBytes: limit, usedBytes: used, askedBytes: bytes });
        const n = (this.#refusals.get(caller) ?? 0) + 1;
        this.#refusals.set(caller, n);
        onRefused?.(err, n);
        throw err;
      }
    }
    this.#reserved.set(caller, reserved + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#reserved.get(caller) ?? 0) - bytes;
      if (left > 0) this.#reserved.set(caller, left);
      else this.#reserved.delete(caller);
    };
  }

  /** Every caller with a quota of its own or bytes stored, for stats. */
  snapshot(callers: readonly string[]): Record<string, { quotaBytes: number | null; usedBytes: number }> {
    const out: Record<string, { quotaBytes: number | null; usedBytes: number }> = {};
    for (const c of new Set([...callers, ...this.#own.keys()])) out[c] = { quotaBytes: this.limitOf(c) ?? null, usedBytes: this.usedBy(c) };
    return out;
  }
}
