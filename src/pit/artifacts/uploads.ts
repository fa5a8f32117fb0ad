/**
 * Chunked uploads over the bus: begun by one peer (only it may add chunks, commit or abort),
 * streamed to a temp file chunk by chunk in the order the requests arrived, each chunk reserved
 * against its owner's quota first. A failed chunk leaves a gap, so the upload is aborted; an idle
 * one is aborted after `uploadIdleMs`.
 */
import { randomUUID } from 'node:crypto';
import { ForbiddenError, InvalidParamsError, OverloadedError } from '../../bus/index.js';
import type { BlobWriter } from './blobs.js';
import { ArtifactNotFoundError, writeError } from './errors.js';
import { encodeMetadata, normalizeTags, type BeginParams, type ChunkParams } from './schemas.js';
import type { StoreState } from './state.js';
import type { ArtifactRecord } from './types.js';
import type { Writes } from './writes.js';

/** A chunked upload in progress. */
interface Upload {
  id: string;
  name: string;
  metadataJson: string;
  tags: string[];
  /** The peer that began it: only it may add chunks, commit or abort. */
  peer: string;
  /** Whose quota its bytes count against (undefined: the kernel's own, not counted). */
  owner: string | undefined;
  /** Releases of the quota reserved by its chunks (run when it is committed or dropped). */
  reserved: (() => void)[];
  writer: BlobWriter;
  lastActivity: number;
  /** Chunks are applied one after another, in the order their requests arrived. */
  chain: Promise<unknown>;
  /** The first chunk that failed: the content now has a gap, so the upload can only be aborted. */
  failed: unknown;
}

export class Uploads {
  readonly #uploads = new Map<string, Upload>();

  constructor(
    private readonly s: StoreState,
    private readonly writes: Writes,
  ) {}

  get size(): number {
    return this.#uploads.size;
  }

  async begin(a: BeginParams, peer: string, owner: string | undefined): Promise<{ upload: string }> {
    this.s.open();
    if (this.#uploads.size >= this.s.settings.maxUploads) {
      throw new OverloadedError(`artifacts.upload.begin '${a.name}': ${this.#uploads.size} uploads are already in progress (maxUploads); commit or abort some first`, { name: a.name });
    }
    const metadataJson = encodeMetadata('artifacts.upload.begin', a.name, a.metadata);
    const writer = await this.s.newWriter(a.name);
    const id = randomUUID();
    this.#uploads.set(id, { id, name: a.name, metadataJson, tags: normalizeTags(a.tags), peer, owner, reserved: [], writer, lastActivity: Date.now(), chain: Promise.resolve(), failed: undefined });
    return { upload: id };
  }

  chunk(a: ChunkParams, peer: string): Promise<{ upload: string; size: number }> {
    const u = this.#upload('artifacts.upload.chunk', a.upload, peer);
    const data = Buffer.from(a.dataBase64, 'base64');
    u.lastActivity = Date.now();
    // Each chunk is reserved before it is written: an upload cannot fill the disk past the quota
    // before its commit. Over it, the upload is aborted (what it wrote is dropped).
    let release: () => void;
    try {
      release = this.s.reserve(u.owner, data.length, `artifacts.upload.chunk '${u.name}'`);
    } catch (err) {
      return this.drop(u.id).then(() => Promise.reject(err));
    }
    u.reserved.push(release);
    const run = u.chain.then(async () => {
      if (u.failed !== undefined) throw new InvalidParamsError(`artifacts.upload.chunk '${u.name}': an earlier chunk failed; upload aborted`, { name: u.name, upload: u.id });
      if (a.offset !== undefined && a.offset !== u.writer.size) {
        throw new InvalidParamsError(`artifacts.upload.chunk '${u.name}': this chunk starts at offset ${a.offset} but ${u.writer.size} bytes were received; upload aborted`, { name: u.name, upload: u.id, expected: u.writer.size });
      }
      await u.writer.write(data);
      u.lastActivity = Date.now();
      return { upload: u.id, size: u.writer.size };
    });
    u.chain = run.catch((err: unknown) => {
      u.failed ??= err;
    });
    // A failed chunk leaves the upload with a gap: abort it rather than let a commit store wrong content.
    return run.catch(async (err: unknown) => {
      await this.drop(u.id);
      throw writeError(err, u.name);
    });
  }

  commit(id: string, peer: string): Promise<ArtifactRecord> {
    const u = this.#upload('artifacts.upload.commit', id, peer);
    // From now on the upload takes no more chunks; those already queued are written first.
    this.#uploads.delete(id);
    return this.s.track(
      (async () => {
        let blob: { hash: string; size: number };
        try {
          await u.chain;
          if (u.failed !== undefined) throw new InvalidParamsError(`artifacts.upload.commit '${u.name}': a chunk failed (${(u.failed as Error).message}); upload aborted`, { name: u.name, upload: u.id });
          blob = await u.writer.finish();
        } catch (err) {
          await u.writer.abort();
          throw writeError(err, u.name);
        }
        return this.writes.commit(u.writer.path, blob, u.name, u.metadataJson, u.tags, u.owner);
      })().finally(() => {
        for (const r of u.reserved.splice(0)) r();
      }),
    );
  }

  async abort(id: string, peer: string): Promise<{ aborted: boolean }> {
    const u = this.#uploads.get(id);
    if (!u) return { aborted: false };
    if (u.peer !== peer) throw new ForbiddenError(`artifacts.upload.abort: upload '${id}' of '${u.name}' belongs to '${u.peer}'`, { upload: id, name: u.name });
    await this.drop(id);
    return { aborted: true };
  }

  /** Aborts an upload: its queued chunks finish, its temp file goes, its reserved quota is released. */
  async drop(id: string): Promise<void> {
    const u = this.#uploads.get(id);
    if (!u) return;
    this.#uploads.delete(id);
    await u.chain;
    await u.writer.abort();
    for (const r of u.reserved.splice(0)) r();
  }

  /** Every upload dropped (at shutdown). */
  async dropAll(): Promise<void> {
    await Promise.all([...this.#uploads.keys()].map((id) => this.drop(id)));
  }

  expire(): void {
    const now = Date.now();
    for (const u of this.#uploads.values()) {
      if (now - u.lastActivity > this.s.settings.uploadIdleMs) {
        this.s.ctx?.log.warn(`upload '${u.id}' of '${u.name}' was idle for ${now - u.lastActivity}ms: aborted (${u.writer.size} bytes dropped)`);
        void this.drop(u.id);
      }
    }
  }

  #upload(method: string, id: string, peer: string): Upload {
    this.s.open();
    const u = this.#uploads.get(id);
    if (!u) throw new ArtifactNotFoundError(`${method}: no upload '${id}' in progress (never begun, already committed, aborted, or expired after ${this.s.settings.uploadIdleMs}ms idle)`, { upload: id });
    if (u.peer !== peer) throw new ForbiddenError(`${method}: upload '${id}' of '${u.name}' belongs to '${u.peer}'`, { upload: id, name: u.name });
    return u;
  }
}
