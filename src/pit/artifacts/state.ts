/**
 * What the Artifact Store's parts (writes, reads, uploads, verify) share while it runs: its
 * context and settings, the blob layout, the index (refused once stopping), counters and totals,
 * the access log, quotas, per-hash locks and the work in flight that shutdown waits for.
 */
import type { HandlerContext } from '../../bus/index.js';
import { PeerGoneError } from '../../bus/index.js';
import type { PitContext } from '../extension.js';
import { AccessLog } from './access.js';
import { BlobWriter, type BlobLayout } from './blobs.js';
import { ArtifactNotFoundError, writeError } from './errors.js';
import type { ArtifactIndex } from './index-db.js';
import { CallerQuotas } from './quota.js';
import type { Settings } from './schemas.js';
import type { ArtifactCounters } from './types.js';

export const zeroCounters = (): ArtifactCounters => ({ puts: 0, deduplicated: 0, bytesWritten: 0, reads: 0, deletes: 0, blobsRemoved: 0, archived: 0 });

export class StoreState {
  ctx: PitContext | undefined;
  settings!: Settings;
  layout!: BlobLayout;
  index: ArtifactIndex | undefined;
  stopping = false;
  counters: ArtifactCounters = zeroCounters();
  /** Count and bytes of records, kept in step with the index so health() costs no query. */
  totals = { artifacts: 0, bytes: 0 };
  readonly access = new AccessLog();
  quotas: CallerQuotas = new CallerQuotas(undefined, () => 0);
  /** Per-hash critical sections: placing a blob + committing its row vs. deleting the last row + unlinking. */
  readonly #locks = new Map<string, Promise<void>>();
  readonly #inflight = new Set<Promise<unknown>>();

  /** The index, for a new operation: refused once shutdown has begun. */
  open(): ArtifactIndex {
    if (this.stopping) throw new PeerGoneError('the Artifact Store is stopping');
    return this.db();
  }

  /** The index, for an operation already under way (shutdown waits for those). */
  db(): ArtifactIndex {
    if (!this.index?.open) throw new PeerGoneError('the Artifact Store is not running (stopped, or init has not completed)');
    return this.index;
  }

  /** Counts `p` as work in flight until it settles. */
  track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Resolves when the work in flight has finished. */
  async idle(): Promise<void> {
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = prev.then(() => new Promise<void>((r) => (release = r)));
    this.#locks.set(key, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(key) === mine) this.#locks.delete(key);
    }
  }

  /** A temp file to write content into, hashed as it is written. */
  async newWriter(name: string): Promise<BlobWriter> {
    try {
      return await BlobWriter.open(this.layout.tmp, this.settings.maxBlobBytes, name);
    } catch (err) {
      throw writeError(err, name);
    }
  }

  /** Whose quota a bus call counts against: its caller, unless it is the kernel itself. */
  ownerOf(ctx: HandlerContext | undefined): string | undefined {
    return ctx && ctx.peer !== this.ctx?.bus.name ? ctx.peer : undefined;
  }

  /** Reserves `bytes` of `owner`'s quota for a write (refused past it); returns the release. */
  reserve(owner: string | undefined, bytes: number, what: string): () => void {
    return this.quotas.reserve(owner, bytes, what, (err, n) => {
      if (n === 1 || n % 100 === 0) this.ctx?.log.warn(`${err.message} (refused ${n} time${n === 1 ? '' : 's'})`);
    });
  }

  /** The error for an absent artifact, listing the versions that do exist. */
  notFound(method: string, name: string, version?: number): ArtifactNotFoundError {
    const versions = this.index?.open ? this.index.versions(name) : [];
    const list = (vs: { version: number }[]) => (vs.length > 12 ? `${vs.slice(0, 5).map((x) => x.version).join(', ')}, …, ${vs.slice(-5).map((x) => x.version).join(', ')}` : vs.map((x) => x.version).join(', '));
    let message: string;
    if (!versions.length) message = `no artifact named '${name}'`;
    else if (version !== undefined) message = `artifact '${name}' has no version ${version} (versions: ${list(versions)})`;
    else message = `artifact '${name}' has no live version (archived: ${list(versions)}); ask for a version explicitly`;
    return new ArtifactNotFoundError(`${method}: ${message}`, version === undefined ? { name } : { name, version });
  }
}
