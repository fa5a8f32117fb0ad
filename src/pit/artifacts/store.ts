/**
 * The Artifact Store as a Pit extension: its bus methods, its lifecycle (init with crash
 * recovery, health, clean shutdown) and the in-process API, over the parts in this folder
 * (writes, reads, uploads, verify). The on-disk layout and its guarantees: artifacts/index.ts.
 */
import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { HealthResult } from '../../bootstrap/index.js';
import { ForbiddenError, InvalidParamsError, type HandlerContext } from '../../bus/index.js';
import type { PitContext, PitExtension } from '../extension.js';
import { method, parseParams, serve } from '../params.js';
import { BlobLayout, fsyncDir } from './blobs.js';
import { ArtifactIndex } from './index-db.js';
import { CallerQuotas } from './quota.js';
import { Reads } from './reads.js';
import { BeginSchema, BusListSchema, BusPutSchema, ChunkSchema, Empty, GetSchema, KeySchema, QuotaSchema, ReadSchema, SettingsSchema, TagSchema, UploadId, VerifySchema } from './schemas.js';
import { StoreState, zeroCounters } from './state.js';
import type { ArtifactRecord, ArtifactSnapshot, ArtifactState, ArtifactStats, DeleteResult, ListFilter, PutOptions, TagMode, VerifyReport } from './types.js';
import { Uploads } from './uploads.js';
import { verify } from './verify.js';
import { Writes } from './writes.js';

function peerOf(ctx: HandlerContext | undefined): string {
  return ctx?.peer ?? 'local';
}

export class ArtifactStore implements PitExtension<ArtifactSnapshot> {
  readonly name = 'artifacts';
  readonly #s = new StoreState();
  readonly #writes = new Writes(this.#s);
  readonly #reads = new Reads(this.#s);
  readonly #uploads = new Uploads(this.#s, this.#writes);
  #recovered = { uncleanShutdown: false, tempFiles: 0, orphanBlobs: 0 };
  #timer: NodeJS.Timeout | undefined;
  /** The last verify() that found problems (health reports degraded until a clean one). */
  #damage: { at: number; missing: number; corrupt: number; index: string } | undefined;

  /**
   * Bus methods. Results are JSON; records are ArtifactRecord. Errors: -32602 (InvalidParamsError,
   * or its subclass ArtifactNotFoundError with `data.reason = 'not-found'`) for bad params or an
   * absent artifact, -32002 for someone else's upload, -32005 when too many uploads are open,
   * -32004 once the store is stopping, -32603 for disk or index failures.
   */
  readonly methods = serve({
    /**
     * `artifacts.put { name, data?: string (UTF-8) | dataBase64?: string, metadata?: object, tags?: string[] }`
     * -> ArtifactRecord. Exactly one of data/dataBase64. For small blobs: the whole request must fit
     * in one bus frame (1 MiB); use the chunked upload for bigger content.
     */
    'artifacts.put': method(BusPutSchema, (a, ctx): Promise<ArtifactRecord> => {
      if ((a.data === undefined) === (a.dataBase64 === undefined)) throw new InvalidParamsError(`artifacts.put '${a.name}': give exactly one of data or dataBase64`, { name: a.name });
      const data = a.dataBase64 !== undefined ? Buffer.from(a.dataBase64, 'base64') : Buffer.from(a.data!, 'utf8');
      const owner = this.#s.ownerOf(ctx);
      // Refused before a byte is written: the store's disk never holds what is over the quota.
      const release = this.#s.reserve(owner, data.length, `artifacts.put '${a.name}'`);
      return this.#writes.putAs(owner, { name: a.name, data, metadata: a.metadata, tags: a.tags }).finally(release);
    }),
    /**
     * `artifacts.quota { caller, bytes | null }` -> `{ caller, quotaBytes, usedBytes }`: sets one
     * caller's quota (null: back to the default). Only the kernel itself may (the Orchestra sets
     * each extension's from its grant): a caller that could would raise its own.
     */
    'artifacts.quota': method(
      QuotaSchema,
      (a) => {
        this.setQuota(a.caller, a.bytes ?? undefined);
        const index = this.#s.index;
        return { caller: a.caller, quotaBytes: this.#s.quotas.limitOf(a.caller) ?? null, usedBytes: index?.open ? index.usedBy(a.caller) : 0 };
      },
      (ctx) => {
        if (ctx && ctx.peer !== this.#s.ctx?.bus.name) throw new ForbiddenError(`artifacts.quota: only the kernel sets quotas (asked by '${ctx.peer}'); an extension's quota is its grant's limits.artifactsBytes`, { peer: ctx.peer });
      },
    ),
    /**
     * `artifacts.upload.begin { name, metadata?, tags? }` -> `{ upload: string }`. Opens a chunked
     * upload (streamed to a temp file). Idle uploads are aborted after `uploadIdleMs` (5 min).
     */
    'artifacts.upload.begin': method(BeginSchema, (a, ctx) => this.#uploads.begin(a, peerOf(ctx), this.#s.ownerOf(ctx))),
    /**
     * `artifacts.upload.chunk { upload, dataBase64, offset? }` -> `{ upload, size }` (bytes received
     * so far). Appends in the order requests arrive; pass `offset` (bytes sent before this chunk) to
     * have a lost, repeated or reordered chunk refused instead of appended. A failed chunk aborts the upload.
     */
    'artifacts.upload.chunk': method(ChunkSchema, (a, ctx) => this.#uploads.chunk(a, peerOf(ctx))),
    /** `artifacts.upload.commit { upload }` -> ArtifactRecord (acknowledged only once durable). */
    'artifacts.upload.commit': method(UploadId, (a, ctx) => this.#uploads.commit(a.upload, peerOf(ctx))),
    /** `artifacts.upload.abort { upload }` -> `{ aborted: boolean }` (false: no such upload in progress). */
    'artifacts.upload.abort': method(UploadId, (a, ctx) => this.#uploads.abort(a.upload, peerOf(ctx))),
    /** `artifacts.get { name, version? }` -> ArtifactRecord (without version: the latest live version). Does not count as an access. */
    'artifacts.get': method(GetSchema, (a) => this.get(a.name, a.version)),
    /**
     * `artifacts.read { name, version?, offset? = 0, length? = 524288 (max 512 KiB) }` ->
     * `{ dataBase64, eof, offset, size, name, version, hash }`. Without version, the latest live
     * version: read the first chunk, then pass the returned `version` so later chunks come from
     * the same content. A read at offset 0 counts as an access.
     */
    'artifacts.read': method(ReadSchema, async (a) => {
      const r = await this.readRange(a.name, a.version, a.offset, a.length);
      return { dataBase64: r.data.toString('base64'), eof: r.eof, offset: a.offset, size: r.record.size, name: r.record.name, version: r.record.version, hash: r.record.hash };
    }),
    /**
     * `artifacts.list { name?, tag?, state?, hash?, limit? = 500 (max 5000), offset? = 0 }` ->
     * `{ artifacts: ArtifactRecord[], more: boolean }`, ordered by name then version; `more` says
     * another page exists (ask again with `offset + limit`).
     */
    'artifacts.list': method(BusListSchema, (a) => {
      const rows = this.list({ ...a, limit: a.limit + 1 });
      return { artifacts: rows.slice(0, a.limit), more: rows.length > a.limit };
    }),
    /** `artifacts.tag { name, version, tags: string[], mode?: 'add' (default) | 'remove' | 'set' }` -> ArtifactRecord. */
    'artifacts.tag': method(TagSchema, (a) => this.tag(a.name, a.version, a.tags, a.mode)),
    /** `artifacts.archive { name, version }` -> ArtifactRecord (state 'archived'; idempotent; the blob stays in place). */
    'artifacts.archive': method(KeySchema, (a) => this.archive(a.name, a.version)),
    /** `artifacts.unarchive { name, version }` -> ArtifactRecord (state 'live' again). */
    'artifacts.unarchive': method(KeySchema, (a) => this.unarchive(a.name, a.version)),
    /** `artifacts.delete { name, version }` -> `{ name, version, hash, size, blobRemoved }` (the blob goes when no other record uses it). */
    'artifacts.delete': method(KeySchema, async (a): Promise<DeleteResult> => {
      const { result, removal } = this.#writes.delete(a.name, a.version);
      // Over the bus, answer once the blob is gone too.
      await removal;
      return result;
    }),
    /** `artifacts.verify { rehash? = true }` -> VerifyReport (rehash: false only checks presence and size: fast). */
    'artifacts.verify': method(VerifySchema, (a) => this.verify(a)),
    /** `artifacts.stats {}` -> ArtifactStats. */
    'artifacts.stats': method(Empty, () => this.stats()),
  });

  // ---- lifecycle ---------------------------------------------------------------------------------

  restore(state: ArtifactSnapshot): void {
    this.#s.counters = { ...zeroCounters(), ...state?.counters };
  }

  snapshot(): ArtifactSnapshot {
    return { counters: { ...this.#s.counters } };
  }

  /**
   * Opens the index (locking it for this process), removes stale temp files and, after an
   * unclean shutdown, blobs no record references (a crash between rename and commit).
   */
  async init(ctx: PitContext): Promise<void> {
    const s = this.#s;
    s.ctx = ctx;
    s.settings = parseParams('pit.artifacts', SettingsSchema, ctx.config);
    s.layout = new BlobLayout(ctx.dataDir);
    await s.layout.prepare();
    const index = await ArtifactIndex.open(s.layout.index, s.settings);
    s.index = index;
    const own = s.quotas;
    s.quotas = new CallerQuotas(s.settings.quotaBytes, (caller) => (index.open ? index.usedBy(caller) : 0));
    // Quotas set before init (the Orchestra may start first) are kept.
    own.copyTo(s.quotas);
    try {
      await this.#recover(index);
    } catch (err) {
      index.close();
      s.index = undefined;
      throw err;
    }
    const { tempFiles, orphanBlobs, uncleanShutdown } = this.#recovered;
    if (uncleanShutdown || tempFiles) ctx.log.info(`recovered after ${uncleanShutdown ? 'an unclean' : 'a clean'} shutdown: removed ${tempFiles} temp file(s) and ${orphanBlobs} unreferenced blob(s)`);
    s.stopping = false;
    this.#timer = setInterval(() => {
      s.access.flush(s.index, (m) => s.ctx?.log.warn(m));
      this.#uploads.expire();
    }, s.settings.accessFlushMs).unref();
  }

  /** What init finds of the last run: an unclean shutdown's leftovers, or blobs beside a new index. */
  async #recover(index: ArtifactIndex): Promise<void> {
    const layout = this.#s.layout;
    // A new index.db: make its folder entry durable, or a power loss could forget it beside its blobs.
    if (index.created) await fsyncDir(layout.root);
    const unclean = !index.created && index.getMeta('clean') !== '1';
    // The first write takes the exclusive lock: from here on no other process can be writing.
    index.setMeta('clean', '0');
    this.#recovered = { uncleanShutdown: unclean, tempFiles: await layout.cleanTemp(), orphanBlobs: 0 };
    let unreferenced = 0;
    if (unclean || index.created) {
      for await (const hash of layout.walk()) {
        if (index.refs(hash)) continue;
        unreferenced++;
        // After a crash: blob files that no record references (renamed, never committed; or unlinked late).
        if (unclean) await unlink(layout.blobPath(hash)).catch(() => undefined);
      }
    }
    if (unclean) this.#recovered.orphanBlobs = unreferenced;
    // A new index beside existing blobs (the index was lost or moved): keep the blobs, say so.
    else if (unreferenced) this.#s.ctx?.log.warn(`${unreferenced} blob(s) under ${layout.blobs} have no index entry (a new index.db): kept, not removed`);
    const t = index.totals();
    this.#s.totals = { artifacts: t.artifacts, bytes: t.bytes };
  }

  health(): HealthResult {
    const s = this.#s;
    if (!s.index?.open) return { status: 'unhealthy', detail: { reason: 'the artifact index is not open' } };
    const detail = { artifacts: s.totals.artifacts, bytes: s.totals.bytes, uploads: this.#uploads.size };
    if (this.#damage) return { status: 'degraded', detail: { ...detail, damage: { ...this.#damage, reason: 'the last verify found missing or damaged blobs' } } };
    return { status: 'healthy', detail };
  }

  /** Refuses new work, aborts uploads, waits for puts and deletes in flight, writes access stats, closes the index cleanly. */
  async [Symbol.asyncDispose](): Promise<void> {
    const s = this.#s;
    if (!s.index) return;
    s.stopping = true;
    clearInterval(this.#timer);
    await this.#uploads.dropAll();
    await this.idle();
    s.access.flush(s.index, (m) => s.ctx?.log.warn(m));
    try {
      s.index.setMeta('clean', '1');
    } finally {
      s.index.close();
      s.index = undefined;
    }
  }

  // ---- writing -----------------------------------------------------------------------------------

  /**
   * Stores content as a new version of `name` (1 for a new name) and resolves once it is durable:
   * blob fsynced and renamed into place, folder fsynced, index row committed. `stream` and `file`
   * are streamed (memory stays at about 1 MiB whatever the size).
   */
  put(options: PutOptions): Promise<ArtifactRecord> {
    return this.#writes.put(options);
  }

  /**
   * Sets one caller's quota in bytes (undefined: back to the store's `quotaBytes`). Its records
   * already stored stay; past the quota its next writes are refused until it deletes some.
   */
  setQuota(caller: string, bytes: number | undefined): void {
    this.#s.quotas.set(caller, bytes);
  }

  /** Each caller that has records or a quota of its own: its quota (null: none) and the bytes it holds. */
  quotas(): Record<string, { quotaBytes: number | null; usedBytes: number }> {
    const index = this.#s.index;
    return this.#s.quotas.snapshot(index?.open ? index.owners() : []);
  }

  /** Changes a record's tags (`add` by default; `remove`; `set` replaces them all) and returns it. */
  tag(name: string, version: number, tags: readonly string[], mode: TagMode = 'add'): ArtifactRecord {
    this.#writes.tag(name, version, tags, mode);
    return this.get(name, version);
  }

  /** Flags a record archived (idempotent). Its blob stays in place: see artifacts/index.ts. */
  archive(name: string, version: number): ArtifactRecord {
    return this.#writes.setState('artifacts.archive', name, version, 'archived');
  }

  unarchive(name: string, version: number): ArtifactRecord {
    return this.#writes.setState('artifacts.unarchive', name, version, 'live');
  }

  /**
   * Removes a record (committed before this returns) and, when no other record uses its content,
   * the blob too. Synchronous, like the other metadata calls, so a caller iterating over records
   * (the Stale Manager) sees the deletion at once; the file is unlinked right after, under the
   * hash's lock, once more checking that no put of the same content has claimed it meanwhile
   * (`idle()` waits for that). Row first, file second: a crash in between leaves an unreferenced
   * blob, which the next init removes, never a row without its blob.
   */
  delete(name: string, version: number): DeleteResult {
    return this.#writes.delete(name, version).result;
  }

  /** Resolves when background work (blob removals after deletes, puts in flight) has finished. */
  idle(): Promise<void> {
    return this.#s.idle();
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** The record of `name` at `version`, or its latest live version. Throws ArtifactNotFoundError. Not an access. */
  get(name: string, version?: number): ArtifactRecord {
    return this.#reads.get(name, version);
  }

  /** As `get`, but undefined when absent. */
  find(name: string, version?: number): ArtifactRecord | undefined {
    return this.#reads.find(name, version);
  }

  /** The newest record whose content has this hash. Throws ArtifactNotFoundError. (All of them: `list({ hash })`.) */
  getByHash(hash: string): ArtifactRecord {
    return this.#reads.getByHash(hash);
  }

  /** Records matching every given filter, ordered by name then version. */
  list(filter: ListFilter = {}): ArtifactRecord[] {
    return this.#reads.list(filter);
  }

  /** Sum of the records' sizes (of one state if given). Disk use, counting shared content once, is `stats().storedBytes`. */
  totalSize(filter: { state?: ArtifactState } = {}): number {
    return this.#reads.totalSize(filter);
  }

  /**
   * A stream of the content with this hash. Counts as an access of every record sharing that
   * content (they share the bytes). The bytes are not rehashed on the way: run verify() to check.
   */
  createReadStream(hash: string, range: { start?: number; end?: number } = {}): Readable {
    return this.#reads.createReadStream(hash, range);
  }

  /** A stream of one record's content, counting as an access of that record only. */
  openStream(name: string, version?: number): { record: ArtifactRecord; stream: Readable } {
    return this.#reads.openStream(name, version);
  }

  /**
   * A small blob's content as one Buffer (up to `maxReadBytes`, 64 MiB by default), checked
   * against its hash: a damaged blob is an error, never silently returned.
   */
  read(name: string, version?: number): Promise<Buffer> {
    return this.#reads.read(name, version);
  }

  /** Up to `length` bytes of a record's content from `offset` (what `artifacts.read` serves). */
  readRange(name: string, version: number | undefined, offset: number, length: number): Promise<{ record: ArtifactRecord; data: Buffer; eof: boolean }> {
    return this.#reads.readRange(name, version, offset, length);
  }

  // ---- checking ----------------------------------------------------------------------------------

  /**
   * Checks every blob the index references: present, of the recorded size and (with `rehash`, the
   * default) hashing to its address; plus SQLite's quick_check of the index. Reports, repairs nothing.
   */
  async verify(options: { rehash?: boolean } = {}): Promise<VerifyReport> {
    const report = await verify(this.#s, options.rehash ?? true);
    this.#damage = report.ok ? undefined : { at: Date.now(), missing: report.missing.length, corrupt: report.corrupt.length, index: report.index };
    return report;
  }

  stats(): ArtifactStats {
    const s = this.#s;
    const index = s.open();
    const t = index.totals();
    const stored = index.stored();
    return {
      artifacts: t.artifacts,
      live: t.live,
      archived: t.artifacts - t.live,
      names: index.names(),
      blobs: stored.blobs,
      logicalBytes: t.bytes,
      storedBytes: stored.bytes,
      uploads: this.#uploads.size,
      counters: { ...s.counters },
      recovered: { ...this.#recovered },
      dataDir: s.layout.root,
    };
  }
}
