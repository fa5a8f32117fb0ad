/**
 * Reads of records (lastAccessAt, accessCount), kept in memory and written to the index in
 * batches (every `accessFlushMs`, and at shutdown): a crash may lose that much access statistics,
 * never data. Records handed out already include the accesses not yet written.
 */
import type { ArtifactIndex } from './index-db.js';
import type { ArtifactRecord } from './types.js';

interface PendingAccess {
  name: string;
  version: number;
  at: number;
  count: number;
}

function accessKey(name: string, version: number): string {
  return `${version}\u0000${name}`;
}

export class AccessLog {
  readonly #pending = new Map<string, PendingAccess>();

  get size(): number {
    return this.#pending.size;
  }

  record(name: string, version: number): void {
    const key = accessKey(name, version);
    const e = this.#pending.get(key);
    if (e) {
      e.at = Date.now();
      e.count++;
    } else this.#pending.set(key, { name, version, at: Date.now(), count: 1 });
  }

  /** The record with its accesses not yet written added in. */
  apply(rec: ArtifactRecord): ArtifactRecord {
    const e = this.#pending.get(accessKey(rec.name, rec.version));
    if (e) {
      rec.lastAccessAt = Math.max(rec.lastAccessAt, e.at);
      rec.accessCount += e.count;
    }
    return rec;
  }

  /** A deleted record's accesses are not written. */
  forget(name: string, version: number): void {
    this.#pending.delete(accessKey(name, version));
  }

  /** Writes the pending accesses to an open index; a failure is logged (statistics only). */
  flush(index: ArtifactIndex | undefined, warn: (message: string) => void): void {
    if (!this.#pending.size || !index?.open) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    try {
      index.touch(batch);
    } catch (err) {
      warn(`could not record ${batch.length} access(es): ${(err as Error).message}`);
    }
  }
}
