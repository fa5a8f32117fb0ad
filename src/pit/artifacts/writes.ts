/**
 * Writing to the Artifact Store: a put streams into a temp file while hashing, which is fsynced,
 * renamed to its content address and its folder fsynced before the index row commits (the put
 * resolves after the commit); tags and archiving change the row only; a delete commits the row's
 * removal, then unlinks a blob no other record uses.
 */
import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { InternalError, InvalidParamsError } from '../../bus/index.js';
import { parseParams } from '../params.js';
import { sourceOf, writeError } from './errors.js';
import { encodeMetadata, MiB, normalizeTags, PutSchema, Tags } from './schemas.js';
import type { StoreState } from './state.js';
import type { ArtifactRecord, ArtifactState, DeleteResult, PutOptions, TagMode } from './types.js';

type Content = { data?: Uint8Array | string | undefined; stream?: PutOptions['stream']; file?: string | undefined };

export class Writes {
  constructor(private readonly s: StoreState) {}

  /** An in-process put (the kernel's own: counted against no quota). */
  put(options: PutOptions): Promise<ArtifactRecord> {
    try {
      this.s.open();
      const o = parseParams('artifacts.put', PutSchema, options);
      const given = Number(o.data !== undefined) + Number(o.stream !== undefined) + Number(o.file !== undefined);
      if (given !== 1) throw new InvalidParamsError(`artifacts.put '${o.name}': give exactly one of data, stream or file (got ${given})`, { name: o.name });
      const metadataJson = encodeMetadata('artifacts.put', o.name, o.metadata);
      const tags = normalizeTags(o.tags);
      return this.s.track(this.#put(o.name, o, metadataJson, tags));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** put() on behalf of a bus caller: the record is its (counted against its quota). */
  putAs(owner: string | undefined, options: PutOptions): Promise<ArtifactRecord> {
    try {
      this.s.open();
      const o = parseParams('artifacts.put', PutSchema, options);
      const metadataJson = encodeMetadata('artifacts.put', o.name, o.metadata);
      return this.s.track(this.#put(o.name, o, metadataJson, normalizeTags(o.tags), owner));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #put(name: string, o: Content, metadataJson: string, tags: string[], owner?: string): Promise<ArtifactRecord> {
    const writer = await this.s.newWriter(name);
    let blob: { hash: string; size: number };
    try {
      if (o.data !== undefined) await writer.write(o.data);
      else for await (const chunk of sourceOf(o.stream ?? createReadStream(o.file!, { highWaterMark: MiB }))) await writer.write(chunk);
      blob = await writer.finish();
    } catch (err) {
      await writer.abort();
      throw writeError(err, name, o.file);
    }
    return this.commit(writer.path, blob, name, metadataJson, tags, owner);
  }

  /** Places a finished temp file at its content address and commits the record, under the hash's lock. */
  commit(tmpPath: string, blob: { hash: string; size: number }, name: string, metadataJson: string, tags: string[], owner?: string): Promise<ArtifactRecord> {
    const { hash, size } = blob;
    const s = this.s;
    return s.withLock(hash, async () => {
      try {
        await s.layout.place(tmpPath, hash);
      } catch (err) {
        await unlink(tmpPath).catch(() => undefined);
        throw writeError(err, name);
      }
      const index = s.db();
      const now = Date.now();
      const rec: ArtifactRecord = { name, version: 0, hash, size, metadata: JSON.parse(metadataJson) as Record<string, unknown>, tags, createdAt: now, lastAccessAt: now, accessCount: 0, state: 'live' };
      let r: { version: number; deduplicated: boolean };
      try {
        r = index.insert(rec, metadataJson, owner);
      } catch (err) {
        // The blob is in place but nothing references it; we hold its lock, so no one else can start to.
        if (index.open && index.refs(hash) === 0) await unlink(s.layout.blobPath(hash)).catch(() => undefined);
        throw new InternalError(`artifacts: cannot record '${name}' in the index: ${(err as Error).message}`, { name }, { cause: err });
      }
      rec.version = r.version;
      s.counters.puts++;
      s.counters.bytesWritten += size;
      if (r.deduplicated) s.counters.deduplicated++;
      s.totals.artifacts++;
      s.totals.bytes += size;
      s.ctx?.emit('stored', { name, version: rec.version, hash, size, deduplicated: r.deduplicated });
      return rec;
    });
  }

  /** Changes a record's tags (`add`; `remove`; `set` replaces them all). */
  tag(name: string, version: number, tags: readonly string[], mode: TagMode): void {
    const index = this.s.open();
    const t = normalizeTags(parseParams('artifacts.tag', Tags, tags));
    if (!index.tag(name, version, t, mode)) throw this.s.notFound('artifacts.tag', name, version);
  }

  /** Flags a record archived or live again (idempotent); its blob stays in place. */
  setState(method: string, name: string, version: number, state: ArtifactState): ArtifactRecord {
    const index = this.s.open();
    const before = index.one(name, version);
    if (!before) throw this.s.notFound(method, name, version);
    if (before.state !== state) {
      index.setState(name, version, state);
      if (state === 'archived') this.s.counters.archived++;
      this.s.ctx?.emit(state === 'archived' ? 'archived' : 'unarchived', { name, version, hash: before.hash, size: before.size });
    }
    return this.s.access.apply({ ...before, state });
  }

  /** Removes a record (committed before this returns); `removal` unlinks its blob when no other record uses it. */
  delete(name: string, version: number): { result: DeleteResult; removal: Promise<void> | undefined } {
    const s = this.s;
    const r = s.open().remove(name, version);
    if (!r) throw s.notFound('artifacts.delete', name, version);
    s.access.forget(name, version);
    const blobRemoved = r.refs === 0;
    const removal = blobRemoved ? this.#removeBlob(r.hash, name, version) : undefined;
    s.counters.deletes++;
    s.totals.artifacts--;
    s.totals.bytes -= r.size;
    s.ctx?.emit('deleted', { name, version, hash: r.hash, size: r.size, blobRemoved });
    return { result: { name, version, hash: r.hash, size: r.size, blobRemoved }, removal };
  }

  #removeBlob(hash: string, name: string, version: number): Promise<void> {
    const s = this.s;
    return s.track(
      s.withLock(hash, async () => {
        // A put of the same content may have committed while we waited for the lock: then keep it.
        if (!s.index?.open || s.index.refs(hash) > 0) return;
        try {
          await unlink(s.layout.blobPath(hash));
          s.counters.blobsRemoved++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') s.ctx?.log.warn(`could not remove the blob ${hash} of '${name}' v${version}: ${(err as Error).message}; it is removed at the next start after a crash, or by hand`);
        }
      }),
    );
  }
}
