import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { HealthResult } from '../bootstrap/index.js';
import { BusError, ForbiddenError, InternalError, InvalidParamsError, OverloadedError, PeerGoneError, type HandlerContext } from '../bus/index.js';
import { BlobLayout, BlobTooLargeError, BlobWriter, forEachLimit, fsyncDir, hashFile, sizeOf } from './artifacts/blobs.js';
import { ArtifactIndex } from './artifacts/index-db.js';
import { ArtifactQuotaError, CallerQuotas } from './artifacts/quota.js';
import type {
  ArtifactCounters,
  ArtifactRecord,
  ArtifactSettings,
  ArtifactSnapshot,
  ArtifactState,
  ArtifactStats,
  BlobProblem,
  DeleteResult,
  ListFilter,
  PutOptions,
  TagMode,
  VerifyReport,
} from './artifacts/types.js';
import type { PitContext, PitExtension } from './extension.js';
import { parseParams, v } from './params.js';

export type * from './artifacts/types.js';
export { ArtifactQuotaError } from './artifacts/quota.js';

/**
 * The artifact (or content) named in a request does not exist. Code -32602 (invalid params: the
 * params name something absent), so remote callers see an InvalidParamsError; `data.reason` is
 * `'not-found'` and `data` names the artifact.
 */
export class ArtifactNotFoundError extends InvalidParamsError {
  override name = 'ArtifactNotFoundError';
  constructor(message: string, data: { name?: string; version?: number; hash?: string; upload?: string }) {
    super(message, { reason: 'not-found', ...data });
  }
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Largest `artifacts.read` chunk: its base64 (4/3 of it) stays well under the bus's 1 MiB frame. */
export const MAX_READ_CHUNK = 512 * KiB;
const MAX_METADATA_BYTES = 64 * KiB;
/** Blobs checked at once by verify(): enough to keep libuv's 4 I/O threads busy. */
const VERIFY_CONCURRENCY = 4;

const CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const Name = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(1024, 'must be at most 1024 characters'), v.regex(CONTROL, 'must not contain control characters'));
const Tag = v.pipe(v.string(), v.minLength(1, 'a tag must not be empty'), v.maxLength(128, 'a tag must be at most 128 characters'), v.regex(CONTROL, 'a tag must not contain control characters'));
const Tags = v.pipe(v.array(Tag), v.maxLength(64, 'at most 64 tags'));
const Version = v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1, 'must be 1 or more'));
const Hash = v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, 'must be a SHA-256 in hex (64 characters)'), v.toLowerCase());
const State = v.picklist(['live', 'archived'] as const);
const Metadata = v.custom<Record<string, unknown>>(isPlainObject, 'must be a JSON object');
const Base64 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64'));
const Mode = v.picklist(['add', 'remove', 'set'] as const);
const Count = (dflt: number) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), dflt);

const SettingsSchema = v.object({
  maxBlobBytes: Count(1024 * MiB),
  maxReadBytes: Count(64 * MiB),
  synchronous: v.optional(v.picklist(['full', 'normal'] as const), 'full'),
  lockTimeoutMs: v.optional(v.pipe(v.number(), v.minValue(0)), 2_000),
  uploadIdleMs: Count(300_000),
  maxUploads: Count(64),
  accessFlushMs: Count(1_000),
  /** Bytes each bus caller may keep stored (its records' sizes); unset: no quota. A grant's limits.artifactsBytes sets an extension's own. */
  quotaBytes: v.optional(v.pipe(v.number('quotaBytes must be a number of bytes'), v.integer('quotaBytes must be a whole number of bytes'), v.minValue(1, 'quotaBytes must be at least 1'))),
});
const QuotaSchema = v.object({
  caller: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
  /** null: back to the store's default. */
  bytes: v.nullable(v.pipe(v.number(), v.integer('must be a whole number of bytes'), v.minValue(1, 'must be at least 1'))),
});

const PutSchema = v.object({
  name: Name,
  data: v.optional(v.union([v.string(), v.instance(Uint8Array)], 'must be a string or a Buffer')),
  stream: v.optional(v.custom<NonNullable<PutOptions['stream']>>(isAsyncIterable, 'must be a Readable or an async iterable of chunks')),
  file: v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty'))),
  metadata: v.optional(Metadata),
  tags: v.optional(Tags),
});
const BusPutSchema = v.object({
  name: Name,
  data: v.optional(v.string()),
  dataBase64: v.optional(Base64),
  metadata: v.optional(Metadata),
  tags: v.optional(Tags),
});
const BeginSchema = v.object({ name: Name, metadata: v.optional(Metadata), tags: v.optional(Tags) });
const UploadId = v.object({ upload: v.pipe(v.string(), v.minLength(1)) });
const ChunkSchema = v.object({
  upload: v.pipe(v.string(), v.minLength(1)),
  dataBase64: Base64,
  /** Where the chunk starts; when given it must equal the bytes received so far (catches a lost or repeated chunk). */
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});
const GetSchema = v.object({ name: Name, version: v.optional(Version) });
const ReadSchema = v.object({
  name: Name,
  version: v.optional(Version),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  length: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_READ_CHUNK, `must be at most ${MAX_READ_CHUNK} (512 KiB)`)), MAX_READ_CHUNK),
});
const ListFilterSchema = v.object({
  name: v.optional(Name),
  tag: v.optional(Tag),
  state: v.optional(State),
  hash: v.optional(Hash),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});
const BusListSchema = v.object({
  ...ListFilterSchema.entries,
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(5_000, 'must be at most 5000')), 500),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});
const KeySchema = v.object({ name: Name, version: Version });
const TagSchema = v.object({ name: Name, version: Version, tags: Tags, mode: v.optional(Mode, 'add') });
const VerifySchema = v.object({ rehash: v.optional(v.boolean(), true) });
const Empty = v.object({});

type Settings = v.InferOutput<typeof SettingsSchema>;

/** A chunked upload in progress (bus only). */
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

/** A source stream failed (as opposed to the store's own disk). */
class SourceError extends Error {
  override name = 'SourceError';
}

interface PendingAccess {
  name: string;
  version: number;
  at: number;
  count: number;
}

const zeroCounters = (): ArtifactCounters => ({ puts: 0, deduplicated: 0, bytesWritten: 0, reads: 0, deletes: 0, blobsRemoved: 0, archived: 0 });

/**
 * Artifact Store: content-addressed blobs (SHA-256) on disk with a SQLite index of named,
 * versioned records.
 *
 * Layout under the Pit's `<dataDir>/artifacts`: `index.db` (WAL, `synchronous = FULL`, held
 * exclusively by this process), `blobs/sha256/<2 hex>/<62 hex>`, and `tmp/` for writes in progress.
 *
 * A put streams into `tmp/` while hashing, fsyncs the file, renames it to its content address,
 * fsyncs that folder, and only then commits the index row; the put resolves after the commit. A
 * crash at any point leaves at most a temp file or an unreferenced blob (both removed at the next
 * init), never a row pointing at a missing or partial blob.
 *
 * Archiving only flags a record (`state = 'archived'`); its blob stays where it is, since content
 * is shared between records and a move would have to track every sharer. Archived records are
 * skipped when a name is resolved without a version and stay readable by explicit version.
 *
 * Reads are recorded (lastAccessAt, accessCount) in memory and written in batches every
 * `accessFlushMs` (and at shutdown): a crash may lose up to that much access statistics, never data.
 * Records returned in-process already include accesses not yet written.
 *
 * The snapshot holds only operation counters; the durable state is the index and the blobs.
 */
export class ArtifactStore implements PitExtension<ArtifactSnapshot> {
  readonly name = 'artifacts';
  #ctx: PitContext | undefined;
  #settings!: Settings;
  #layout!: BlobLayout;
  #index: ArtifactIndex | undefined;
  #stopping = false;
  #counters: ArtifactCounters = zeroCounters();
  #recovered = { uncleanShutdown: false, tempFiles: 0, orphanBlobs: 0 };
  /** Count and bytes of records, kept in step with the index so health() costs no query. */
  #totals = { artifacts: 0, bytes: 0 };
  /** Per-hash critical sections: placing a blob + committing its row vs. deleting the last row + unlinking. */
  readonly #locks = new Map<string, Promise<void>>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #uploads = new Map<string, Upload>();
  readonly #pendingAccess = new Map<string, PendingAccess>();
  #timer: NodeJS.Timeout | undefined;
  #quotas: CallerQuotas = new CallerQuotas(undefined, () => 0);
  /** The last verify() that found problems (health reports degraded until a clean one). */
  #damage: { at: number; missing: number; corrupt: number; index: string } | undefined;

  /**
   * Bus methods. Results are JSON; records are ArtifactRecord. Errors: -32602 (InvalidParamsError,
   * or its subclass ArtifactNotFoundError with `data.reason = 'not-found'`) for bad params or an
   * absent artifact, -32002 for someone else's upload, -32005 when too many uploads are open,
   * -32004 once the store is stopping, -32603 for disk or index failures.
   */
  readonly methods = {
    /**
     * `artifacts.put { name, data?: string (UTF-8) | dataBase64?: string, metadata?: object, tags?: string[] }`
     * -> ArtifactRecord. Exactly one of data/dataBase64. For small blobs: the whole request must fit
     * in one bus frame (1 MiB); use the chunked upload for bigger content.
     */
    'artifacts.put': (p: unknown, ctx?: HandlerContext) => {
      const a = parseParams('artifacts.put', BusPutSchema, p);
      if ((a.data === undefined) === (a.dataBase64 === undefined)) throw new InvalidParamsError(`artifacts.put '${a.name}': give exactly one of data or dataBase64`, { name: a.name });
      const data = a.dataBase64 !== undefined ? Buffer.from(a.dataBase64, 'base64') : Buffer.from(a.data!, 'utf8');
      const owner = this.#ownerOf(ctx);
      // Refused before a byte is written: the store's disk never holds what is over the quota.
      const release = this.#reserve(owner, data.length, `artifacts.put '${a.name}'`);
      return this.#putAs(owner, { name: a.name, data, metadata: a.metadata, tags: a.tags }).finally(release);
    },
    /**
     * `artifacts.quota { caller, bytes | null }` -> `{ caller, quotaBytes, usedBytes }`: sets one
     * caller's quota (null: back to the default). Only the kernel itself may (the Orchestra sets
     * each extension's from its grant): a caller that could would raise its own.
     */
    'artifacts.quota': (p: unknown, ctx?: HandlerContext) => {
      if (ctx && ctx.peer !== this.#ctx?.bus.name) throw new ForbiddenError(`artifacts.quota: only the kernel sets quotas (asked by '${ctx.peer}'); an extension's quota is its grant's limits.artifactsBytes`, { peer: ctx.peer });
      const a = parseParams('artifacts.quota', QuotaSchema, p);
      this.setQuota(a.caller, a.bytes ?? undefined);
      return { caller: a.caller, quotaBytes: this.#quotas.limitOf(a.caller) ?? null, usedBytes: this.#index?.open ? this.#index.usedBy(a.caller) : 0 };
    },
    /**
     * `artifacts.upload.begin { name, metadata?, tags? }` -> `{ upload: string }`. Opens a chunked
     * upload (streamed to a temp file). Idle uploads are aborted after `uploadIdleMs` (5 min).
     */
    'artifacts.upload.begin': (p: unknown, ctx?: HandlerContext) => this.#beginUpload(parseParams('artifacts.upload.begin', BeginSchema, p), peerOf(ctx), this.#ownerOf(ctx)),
    /**
     * `artifacts.upload.chunk { upload, dataBase64, offset? }` -> `{ upload, size }` (bytes received
     * so far). Appends in the order requests arrive; pass `offset` (bytes sent before this chunk) to
     * have a lost, repeated or reordered chunk refused instead of appended. A failed chunk aborts the upload.
     */
    'artifacts.upload.chunk': (p: unknown, ctx?: HandlerContext) => this.#chunk(parseParams('artifacts.upload.chunk', ChunkSchema, p), peerOf(ctx)),
    /** `artifacts.upload.commit { upload }` -> ArtifactRecord (acknowledged only once durable). */
    'artifacts.upload.commit': (p: unknown, ctx?: HandlerContext) => this.#commitUpload(parseParams('artifacts.upload.commit', UploadId, p).upload, peerOf(ctx)),
    /** `artifacts.upload.abort { upload }` -> `{ aborted: boolean }` (false: no such upload in progress). */
    'artifacts.upload.abort': (p: unknown, ctx?: HandlerContext) => this.#abortUpload(parseParams('artifacts.upload.abort', UploadId, p).upload, peerOf(ctx)),
    /** `artifacts.get { name, version? }` -> ArtifactRecord (without version: the latest live version). Does not count as an access. */
    'artifacts.get': (p: unknown) => {
      const a = parseParams('artifacts.get', GetSchema, p);
      return this.get(a.name, a.version);
    },
    /**
     * `artifacts.read { name, version?, offset? = 0, length? = 524288 (max 512 KiB) }` ->
     * `{ dataBase64, eof, offset, size, name, version, hash }`. Without version, the latest live
     * version: read the first chunk, then pass the returned `version` so later chunks come from
     * the same content. A read at offset 0 counts as an access.
     */
    'artifacts.read': async (p: unknown) => {
      const a = parseParams('artifacts.read', ReadSchema, p);
      const r = await this.readRange(a.name, a.version, a.offset, a.length);
      return { dataBase64: r.data.toString('base64'), eof: r.eof, offset: a.offset, size: r.record.size, name: r.record.name, version: r.record.version, hash: r.record.hash };
    },
    /**
     * `artifacts.list { name?, tag?, state?, hash?, limit? = 500 (max 5000), offset? = 0 }` ->
     * `{ artifacts: ArtifactRecord[], more: boolean }`, ordered by name then version; `more` says
     * another page exists (ask again with `offset + limit`).
     */
    'artifacts.list': (p: unknown) => {
      const a = parseParams('artifacts.list', BusListSchema, p);
      const rows = this.list({ ...a, limit: a.limit + 1 });
      return { artifacts: rows.slice(0, a.limit), more: rows.length > a.limit };
    },
    /** `artifacts.tag { name, version, tags: string[], mode?: 'add' (default) | 'remove' | 'set' }` -> ArtifactRecord. */
    'artifacts.tag': (p: unknown) => {
      const a = parseParams('artifacts.tag', TagSchema, p);
      return this.tag(a.name, a.version, a.tags, a.mode);
    },
    /** `artifacts.archive { name, version }` -> ArtifactRecord (state 'archived'; idempotent; the blob stays in place). */
    'artifacts.archive': (p: unknown) => {
      const a = parseParams('artifacts.archive', KeySchema, p);
      return this.archive(a.name, a.version);
    },
    /** `artifacts.unarchive { name, version }` -> ArtifactRecord (state 'live' again). */
    'artifacts.unarchive': (p: unknown) => {
      const a = parseParams('artifacts.unarchive', KeySchema, p);
      return this.unarchive(a.name, a.version);
    },
    /** `artifacts.delete { name, version }` -> `{ name, version, hash, size, blobRemoved }` (the blob goes when no other record uses it). */
    'artifacts.delete': async (p: unknown) => {
      const a = parseParams('artifacts.delete', KeySchema, p);
      const { result, removal } = this.#delete(a.name, a.version);
      // Over the bus, answer once the blob is gone too.
      await removal;
      return result;
    },
    /** `artifacts.verify { rehash? = true }` -> VerifyReport (rehash: false only checks presence and size: fast). */
    'artifacts.verify': (p: unknown) => this.verify(parseParams('artifacts.verify', VerifySchema, p)),
    /** `artifacts.stats {}` -> ArtifactStats. */
    'artifacts.stats': (p: unknown) => {
      parseParams('artifacts.stats', Empty, p);
      return this.stats();
    },
  };

  // ---- lifecycle ---------------------------------------------------------------------------------

  restore(state: ArtifactSnapshot): void {
    this.#counters = { ...zeroCounters(), ...state?.counters };
  }

  snapshot(): ArtifactSnapshot {
    return { counters: { ...this.#counters } };
  }

  /**
   * Opens the index (locking it for this process), removes stale temp files and, after an
   * unclean shutdown, blobs no record references (a crash between rename and commit).
   */
  async init(ctx: PitContext): Promise<void> {
    this.#ctx = ctx;
    this.#settings = parseParams('pit.artifacts', SettingsSchema, ctx.config);
    this.#layout = new BlobLayout(ctx.dataDir);
    await this.#layout.prepare();
    const index = await ArtifactIndex.open(this.#layout.index, this.#settings);
    this.#index = index;
    const own = this.#quotas;
    this.#quotas = new CallerQuotas(this.#settings.quotaBytes, (caller) => (index.open ? index.usedBy(caller) : 0));
    // Quotas set before init (the Orchestra may start first) are kept.
    own.copyTo(this.#quotas);
    try {
      // A new index.db: make its folder entry durable, or a power loss could forget it beside its blobs.
      if (index.created) await fsyncDir(this.#layout.root);
      const unclean = !index.created && index.getMeta('clean') !== '1';
      // The first write takes the exclusive lock: from here on no other process can be writing.
      index.setMeta('clean', '0');
      this.#recovered = { uncleanShutdown: unclean, tempFiles: await this.#layout.cleanTemp(), orphanBlobs: 0 };
      if (unclean) this.#recovered.orphanBlobs = await this.#sweepOrphans(index);
      else if (index.created) await this.#warnUnindexedBlobs(index);
      const t = index.totals();
      this.#totals = { artifacts: t.artifacts, bytes: t.bytes };
    } catch (err) {
      index.close();
      this.#index = undefined;
      throw err;
    }
    const { tempFiles, orphanBlobs, uncleanShutdown } = this.#recovered;
    if (uncleanShutdown || tempFiles) ctx.log.info(`recovered after ${uncleanShutdown ? 'an unclean' : 'a clean'} shutdown: removed ${tempFiles} temp file(s) and ${orphanBlobs} unreferenced blob(s)`);
    this.#stopping = false;
    this.#timer = setInterval(() => {
      this.#flushAccess();
      this.#expireUploads();
    }, this.#settings.accessFlushMs).unref();
  }

  health(): HealthResult {
    if (!this.#index?.open) return { status: 'unhealthy', detail: { reason: 'the artifact index is not open' } };
    const detail = { artifacts: this.#totals.artifacts, bytes: this.#totals.bytes, uploads: this.#uploads.size };
    if (this.#damage) return { status: 'degraded', detail: { ...detail, damage: { ...this.#damage, reason: 'the last verify found missing or damaged blobs' } } };
    return { status: 'healthy', detail };
  }

  /** Refuses new work, aborts uploads, waits for puts and deletes in flight, writes access stats, closes the index cleanly. */
  async shutdown(): Promise<void> {
    if (!this.#index) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#uploads.keys()].map((id) => this.#dropUpload(id)));
    await this.idle();
    this.#flushAccess();
    try {
      this.#index.setMeta('clean', '1');
    } finally {
      this.#index.close();
      this.#index = undefined;
    }
  }

  // ---- writing -----------------------------------------------------------------------------------

  /**
   * Stores content as a new version of `name` (1 for a new name) and resolves once it is durable:
   * blob fsynced and renamed into place, folder fsynced, index row committed. `stream` and `file`
   * are streamed (memory stays at about 1 MiB whatever the size).
   */
  put(options: PutOptions): Promise<ArtifactRecord> {
    try {
      this.#open();
      const o = parseParams('artifacts.put', PutSchema, options);
      const given = Number(o.data !== undefined) + Number(o.stream !== undefined) + Number(o.file !== undefined);
      if (given !== 1) throw new InvalidParamsError(`artifacts.put '${o.name}': give exactly one of data, stream or file (got ${given})`, { name: o.name });
      const metadataJson = encodeMetadata('artifacts.put', o.name, o.metadata);
      const tags = normalizeTags(o.tags);
      return this.#track(this.#put(o.name, o, metadataJson, tags));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** put() on behalf of a bus caller: the record is its (counted against its quota). */
  #putAs(owner: string | undefined, options: PutOptions): Promise<ArtifactRecord> {
    try {
      this.#open();
      const o = parseParams('artifacts.put', PutSchema, options);
      const metadataJson = encodeMetadata('artifacts.put', o.name, o.metadata);
      return this.#track(this.#put(o.name, o, metadataJson, normalizeTags(o.tags), owner));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sets one caller's quota in bytes (undefined: back to the store's `quotaBytes`). Its records
   * already stored stay; past the quota its next writes are refused until it deletes some.
   */
  setQuota(caller: string, bytes: number | undefined): void {
    this.#quotas.set(caller, bytes);
  }

  /** Each caller that has records or a quota of its own: its quota (null: none) and the bytes it holds. */
  quotas(): Record<string, { quotaBytes: number | null; usedBytes: number }> {
    return this.#quotas.snapshot(this.#index?.open ? this.#index.owners() : []);
  }

  /** Whose quota a bus call counts against: its caller, unless it is the kernel itself. */
  #ownerOf(ctx: HandlerContext | undefined): string | undefined {
    return ctx && ctx.peer !== this.#ctx?.bus.name ? ctx.peer : undefined;
  }

  #reserve(owner: string | undefined, bytes: number, what: string): () => void {
    return this.#quotas.reserve(owner, bytes, what, (err, n) => {
      if (n === 1 || n % 100 === 0) this.#ctx?.log.warn(`${err.message} (refused ${n} time${n === 1 ? '' : 's'})`);
    });
  }

  async #put(name: string, o: { data?: Uint8Array | string | undefined; stream?: PutOptions['stream']; file?: string | undefined }, metadataJson: string, tags: string[], owner?: string): Promise<ArtifactRecord> {
    const writer = await this.#newWriter(name);
    let blob: { hash: string; size: number };
    try {
      if (o.data !== undefined) await writer.write(o.data);
      else for await (const chunk of sourceOf(o.stream ?? createReadStream(o.file!, { highWaterMark: MiB }))) await writer.write(chunk);
      blob = await writer.finish();
    } catch (err) {
      await writer.abort();
      throw this.#writeError(err, name, o.file);
    }
    return this.#commit(writer.path, blob, name, metadataJson, tags, owner);
  }

  async #newWriter(name: string): Promise<BlobWriter> {
    try {
      return await BlobWriter.open(this.#layout.tmp, this.#settings.maxBlobBytes, name);
    } catch (err) {
      throw this.#writeError(err, name);
    }
  }

  /** Places a finished temp file at its content address and commits the record, under the hash's lock. */
  #commit(tmpPath: string, blob: { hash: string; size: number }, name: string, metadataJson: string, tags: string[], owner?: string): Promise<ArtifactRecord> {
    const { hash, size } = blob;
    return this.#withLock(hash, async () => {
      try {
        await this.#layout.place(tmpPath, hash);
      } catch (err) {
        await unlink(tmpPath).catch(() => undefined);
        throw this.#writeError(err, name);
      }
      const index = this.#db();
      const now = Date.now();
      const rec: ArtifactRecord = { name, version: 0, hash, size, metadata: JSON.parse(metadataJson) as Record<string, unknown>, tags, createdAt: now, lastAccessAt: now, accessCount: 0, state: 'live' };
      let r: { version: number; deduplicated: boolean };
      try {
        r = index.insert(rec, metadataJson, owner);
      } catch (err) {
        // The blob is in place but nothing references it; we hold its lock, so no one else can start to.
        if (index.open && index.refs(hash) === 0) await unlink(this.#layout.blobPath(hash)).catch(() => undefined);
        throw new InternalError(`artifacts: cannot record '${name}' in the index: ${(err as Error).message}`, { name }, { cause: err });
      }
      rec.version = r.version;
      this.#counters.puts++;
      this.#counters.bytesWritten += size;
      if (r.deduplicated) this.#counters.deduplicated++;
      this.#totals.artifacts++;
      this.#totals.bytes += size;
      this.#ctx?.emit('stored', { name, version: rec.version, hash, size, deduplicated: r.deduplicated });
      return rec;
    });
  }

  /** Changes a record's tags (`add` by default; `remove`; `set` replaces them all) and returns it. */
  tag(name: string, version: number, tags: readonly string[], mode: TagMode = 'add'): ArtifactRecord {
    const index = this.#open();
    const t = normalizeTags(parseParams('artifacts.tag', Tags, tags));
    if (!index.tag(name, version, t, mode)) throw this.#notFound('artifacts.tag', name, version);
    return this.get(name, version);
  }

  /** Flags a record archived (idempotent). Its blob stays in place: see the class comment. */
  archive(name: string, version: number): ArtifactRecord {
    return this.#setState('artifacts.archive', name, version, 'archived');
  }

  unarchive(name: string, version: number): ArtifactRecord {
    return this.#setState('artifacts.unarchive', name, version, 'live');
  }

  #setState(method: string, name: string, version: number, state: ArtifactState): ArtifactRecord {
    const index = this.#open();
    const before = index.one(name, version);
    if (!before) throw this.#notFound(method, name, version);
    if (before.state !== state) {
      index.setState(name, version, state);
      if (state === 'archived') this.#counters.archived++;
      this.#ctx?.emit(state === 'archived' ? 'archived' : 'unarchived', { name, version, hash: before.hash, size: before.size });
    }
    return this.#withAccess({ ...before, state });
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
    return this.#delete(name, version).result;
  }

  #delete(name: string, version: number): { result: DeleteResult; removal: Promise<void> | undefined } {
    const r = this.#open().remove(name, version);
    if (!r) throw this.#notFound('artifacts.delete', name, version);
    this.#pendingAccess.delete(accessKey(name, version));
    const blobRemoved = r.refs === 0;
    const removal = blobRemoved ? this.#removeBlob(r.hash, name, version) : undefined;
    this.#counters.deletes++;
    this.#totals.artifacts--;
    this.#totals.bytes -= r.size;
    this.#ctx?.emit('deleted', { name, version, hash: r.hash, size: r.size, blobRemoved });
    return { result: { name, version, hash: r.hash, size: r.size, blobRemoved }, removal };
  }

  /** Resolves when background work (blob removals after deletes, puts in flight) has finished. */
  async idle(): Promise<void> {
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  #removeBlob(hash: string, name: string, version: number): Promise<void> {
    return this.#track(
      this.#withLock(hash, async () => {
        // A put of the same content may have committed while we waited for the lock: then keep it.
        if (!this.#index?.open || this.#index.refs(hash) > 0) return;
        try {
          await unlink(this.#layout.blobPath(hash));
          this.#counters.blobsRemoved++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#ctx?.log.warn(`could not remove the blob ${hash} of '${name}' v${version}: ${(err as Error).message}; it is removed at the next start after a crash, or by hand`);
        }
      }),
    );
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** The record of `name` at `version`, or its latest live version. Throws ArtifactNotFoundError. Not an access. */
  get(name: string, version?: number): ArtifactRecord {
    const rec = this.find(name, version);
    if (!rec) throw this.#notFound('artifacts.get', name, version);
    return rec;
  }

  /** As `get`, but undefined when absent. */
  find(name: string, version?: number): ArtifactRecord | undefined {
    const index = this.#open();
    const rec = version === undefined ? index.latestLive(name) : index.one(name, version);
    return rec && this.#withAccess(rec);
  }

  /** The newest record whose content has this hash. Throws ArtifactNotFoundError. (All of them: `list({ hash })`.) */
  getByHash(hash: string): ArtifactRecord {
    const h = parseParams('artifacts.getByHash', Hash, hash);
    const rec = this.#open().newestByHash(h);
    if (!rec) throw new ArtifactNotFoundError(`artifacts: no artifact has the content ${h}`, { hash: h });
    return this.#withAccess(rec);
  }

  /** Records matching every given filter, ordered by name then version. */
  list(filter: ListFilter = {}): ArtifactRecord[] {
    const index = this.#open();
    const rows = index.list(parseParams('artifacts.list', ListFilterSchema, filter));
    if (this.#pendingAccess.size) for (const r of rows) this.#withAccess(r);
    return rows;
  }

  /** Sum of the records' sizes (of one state if given). Disk use, counting shared content once, is `stats().storedBytes`. */
  totalSize(filter: { state?: ArtifactState } = {}): number {
    const state = filter.state === undefined ? undefined : parseParams('artifacts.totalSize', State, filter.state);
    return this.#open().totalSize(state);
  }

  /**
   * A stream of the content with this hash. Counts as an access of every record sharing that
   * content (they share the bytes). The bytes are not rehashed on the way: run verify() to check.
   */
  createReadStream(hash: string, range: { start?: number; end?: number } = {}): Readable {
    const h = parseParams('artifacts.createReadStream', Hash, hash);
    const keys = this.#open().keysByHash(h);
    if (!keys.length) throw new ArtifactNotFoundError(`artifacts: no artifact has the content ${h}`, { hash: h });
    for (const k of keys) this.#recordAccess(k.name, k.version);
    this.#counters.reads++;
    return createReadStream(this.#layout.blobPath(h), { highWaterMark: MiB, start: range.start, end: range.end });
  }

  /** A stream of one record's content, counting as an access of that record only. */
  openStream(name: string, version?: number): { record: ArtifactRecord; stream: Readable } {
    const record = this.get(name, version);
    this.#recordAccess(record.name, record.version);
    this.#counters.reads++;
    return { record, stream: createReadStream(this.#layout.blobPath(record.hash), { highWaterMark: MiB }) };
  }

  /**
   * A small blob's content as one Buffer (up to `maxReadBytes`, 64 MiB by default), checked
   * against its hash: a damaged blob is an error, never silently returned.
   */
  async read(name: string, version?: number): Promise<Buffer> {
    const record = this.get(name, version);
    if (record.size > this.#settings.maxReadBytes) {
      throw new InvalidParamsError(`artifacts.read: '${name}' v${record.version} is ${record.size} bytes, more than read() returns at once (maxReadBytes ${this.#settings.maxReadBytes}); use createReadStream`, { name, version: record.version });
    }
    const data = await this.#readBlob(record, () => readFile(this.#layout.blobPath(record.hash)));
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== record.hash) {
      throw new InternalError(`artifacts: '${name}' v${record.version} is damaged on disk (its content hashes to ${actual}, not ${record.hash}); run artifacts.verify`, { name, version: record.version, hash: record.hash });
    }
    this.#recordAccess(record.name, record.version);
    this.#counters.reads++;
    return data;
  }

  /** Up to `length` bytes of a record's content from `offset` (what `artifacts.read` serves). */
  async readRange(name: string, version: number | undefined, offset: number, length: number): Promise<{ record: ArtifactRecord; data: Buffer; eof: boolean }> {
    const record = this.get(name, version);
    if (offset > record.size) throw new InvalidParamsError(`artifacts.read: offset ${offset} is past the end of '${name}' v${record.version} (${record.size} bytes)`, { name, version: record.version });
    const want = Math.min(length, record.size - offset);
    const data = await this.#readBlob(record, async () => {
      const fh = await open(this.#layout.blobPath(record.hash), 'r');
      try {
        const buf = Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === want ? buf : buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    });
    if (offset === 0) {
      this.#recordAccess(record.name, record.version);
      this.#counters.reads++;
    }
    return { record, data, eof: offset + data.length >= record.size };
  }

  async #readBlob(record: ArtifactRecord, read: () => Promise<Buffer>): Promise<Buffer> {
    try {
      return await read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Deleted between the lookup and the open, or lost: say which.
        if (!this.#open().one(record.name, record.version)) throw this.#notFound('artifacts.read', record.name, record.version);
        throw new InternalError(`artifacts: the blob of '${record.name}' v${record.version} (${record.hash}) is missing from disk; run artifacts.verify`, { name: record.name, version: record.version, hash: record.hash });
      }
      throw new InternalError(`artifacts: cannot read '${record.name}' v${record.version}: ${(err as Error).message}`, { name: record.name, version: record.version }, { cause: err });
    }
  }

  // ---- checking ----------------------------------------------------------------------------------

  /**
   * Checks every blob the index references: present, of the recorded size and (with `rehash`, the
   * default) hashing to its address; plus SQLite's quick_check of the index. Reports, repairs nothing.
   */
  async verify(options: { rehash?: boolean } = {}): Promise<VerifyReport> {
    const rehash = options.rehash ?? true;
    const t0 = performance.now();
    const index = this.#open();
    const report: VerifyReport = { ok: true, rehashed: rehash, blobs: 0, records: 0, bytes: 0, missing: [], corrupt: [], orphans: 0, index: index.quickCheck(), ms: 0 };
    // One read buffer per worker: rehashing thousands of small blobs should not allocate for each.
    const buffers = Array.from({ length: VERIFY_CONCURRENCY }, () => Buffer.allocUnsafe(MiB));
    let after = '';
    for (;;) {
      const page = this.#open().blobsAfter(after, 256);
      if (!page.length) break;
      after = page[page.length - 1]!.hash;
      await forEachLimit(page, VERIFY_CONCURRENCY, async (b, worker) => {
        const path = this.#layout.blobPath(b.hash);
        let found: { size: number; hash?: string } | undefined;
        if (rehash) found = await hashFile(path, buffers[worker]).catch(() => undefined);
        else {
          const size = await sizeOf(path);
          found = size === undefined ? undefined : { size };
        }
        const bad = !found || found.size !== b.size || (found.hash !== undefined && found.hash !== b.hash);
        // A blob that looks wrong may just have been deleted while we walked: not a problem then.
        if (bad && !this.#open().refs(b.hash)) return;
        report.blobs++;
        report.records += b.records;
        if (!bad) {
          report.bytes += rehash ? b.size : 0;
          return;
        }
        const records = this.#open().keysByHash(b.hash);
        if (!found) report.missing.push({ hash: b.hash, size: b.size, records });
        else report.corrupt.push({ hash: b.hash, size: b.size, actualSize: found.size, ...(found.hash !== undefined && found.hash !== b.hash ? { actualHash: found.hash } : {}), records });
        if (found) report.bytes += rehash ? found.size : 0;
      });
    }
    report.missing.sort((x, y) => x.hash.localeCompare(y.hash));
    report.corrupt.sort((x, y) => x.hash.localeCompare(y.hash));
    for await (const hash of this.#layout.walk()) if (!this.#open().refs(hash)) report.orphans++;
    report.ok = !report.missing.length && !report.corrupt.length && report.index === 'ok';
    report.ms = Math.round(performance.now() - t0);
    this.#damage = report.ok ? undefined : { at: Date.now(), missing: report.missing.length, corrupt: report.corrupt.length, index: report.index };
    if (!report.ok) this.#ctx?.log.warn(`verify: ${report.missing.length} missing and ${report.corrupt.length} damaged blob(s); index check: ${report.index}`);
    return report;
  }

  stats(): ArtifactStats {
    const index = this.#open();
    const t = index.totals();
    const s = index.stored();
    return {
      artifacts: t.artifacts,
      live: t.live,
      archived: t.artifacts - t.live,
      names: index.names(),
      blobs: s.blobs,
      logicalBytes: t.bytes,
      storedBytes: s.bytes,
      uploads: this.#uploads.size,
      counters: { ...this.#counters },
      recovered: { ...this.#recovered },
      dataDir: this.#layout.root,
    };
  }

  // ---- chunked uploads (bus) ---------------------------------------------------------------------

  async #beginUpload(a: v.InferOutput<typeof BeginSchema>, peer: string, owner: string | undefined): Promise<{ upload: string }> {
    this.#open();
    if (this.#uploads.size >= this.#settings.maxUploads) {
      throw new OverloadedError(`artifacts.upload.begin '${a.name}': ${this.#uploads.size} uploads are already in progress (maxUploads); commit or abort some first`, { name: a.name });
    }
    const metadataJson = encodeMetadata('artifacts.upload.begin', a.name, a.metadata);
    const writer = await this.#newWriter(a.name);
    const id = randomUUID();
    this.#uploads.set(id, { id, name: a.name, metadataJson, tags: normalizeTags(a.tags), peer, owner, reserved: [], writer, lastActivity: Date.now(), chain: Promise.resolve(), failed: undefined });
    return { upload: id };
  }

  #chunk(a: v.InferOutput<typeof ChunkSchema>, peer: string): Promise<{ upload: string; size: number }> {
    const u = this.#upload('artifacts.upload.chunk', a.upload, peer);
    const data = Buffer.from(a.dataBase64, 'base64');
    u.lastActivity = Date.now();
    // Each chunk is reserved before it is written: an upload cannot fill the disk past the quota
    // before its commit. Over it, the upload is aborted (what it wrote is dropped).
    let release: () => void;
    try {
      release = this.#reserve(u.owner, data.length, `artifacts.upload.chunk '${u.name}'`);
    } catch (err) {
      return this.#dropUpload(u.id).then(() => Promise.reject(err));
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
      await this.#dropUpload(u.id);
      throw this.#writeError(err, u.name);
    });
  }

  #commitUpload(id: string, peer: string): Promise<ArtifactRecord> {
    const u = this.#upload('artifacts.upload.commit', id, peer);
    // From now on the upload takes no more chunks; those already queued are written first.
    this.#uploads.delete(id);
    return this.#track(
      (async () => {
        let blob: { hash: string; size: number };
        try {
          await u.chain;
          if (u.failed !== undefined) throw new InvalidParamsError(`artifacts.upload.commit '${u.name}': a chunk failed (${(u.failed as Error).message}); upload aborted`, { name: u.name, upload: u.id });
          blob = await u.writer.finish();
        } catch (err) {
          await u.writer.abort();
          throw this.#writeError(err, u.name);
        }
        return this.#commit(u.writer.path, blob, u.name, u.metadataJson, u.tags, u.owner);
      })().finally(() => {
        for (const r of u.reserved.splice(0)) r();
      }),
    );
  }

  async #abortUpload(id: string, peer: string): Promise<{ aborted: boolean }> {
    const u = this.#uploads.get(id);
    if (!u) return { aborted: false };
    if (u.peer !== peer) throw new ForbiddenError(`artifacts.upload.abort: upload '${id}' of '${u.name}' belongs to '${u.peer}'`, { upload: id, name: u.name });
    await this.#dropUpload(id);
    return { aborted: true };
  }

  #upload(method: string, id: string, peer: string): Upload {
    this.#open();
    const u = this.#uploads.get(id);
    if (!u) throw new ArtifactNotFoundError(`${method}: no upload '${id}' in progress (never begun, already committed, aborted, or expired after ${this.#settings.uploadIdleMs}ms idle)`, { upload: id });
    if (u.peer !== peer) throw new ForbiddenError(`${method}: upload '${id}' of '${u.name}' belongs to '${u.peer}'`, { upload: id, name: u.name });
    return u;
  }

  async #dropUpload(id: string): Promise<void> {
    const u = this.#uploads.get(id);
    if (!u) return;
    this.#uploads.delete(id);
    await u.chain;
    await u.writer.abort();
    for (const r of u.reserved.splice(0)) r();
  }

  #expireUploads(): void {
    const now = Date.now();
    for (const u of this.#uploads.values()) {
      if (now - u.lastActivity > this.#settings.uploadIdleMs) {
        this.#ctx?.log.warn(`upload '${u.id}' of '${u.name}' was idle for ${now - u.lastActivity}ms: aborted (${u.writer.size} bytes dropped)`);
        void this.#dropUpload(u.id);
      }
    }
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** The index, for a new operation: refused once shutdown has begun. */
  #open(): ArtifactIndex {
    if (this.#stopping) throw new PeerGoneError('the Artifact Store is stopping');
    return this.#db();
  }

  /** The index, for an operation already under way (shutdown waits for those). */
  #db(): ArtifactIndex {
    if (!this.#index?.open) throw new PeerGoneError('the Artifact Store is not running (stopped, or init has not completed)');
    return this.#index;
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async #withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
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

  #recordAccess(name: string, version: number): void {
    const key = accessKey(name, version);
    const e = this.#pendingAccess.get(key);
    if (e) {
      e.at = Date.now();
      e.count++;
    } else this.#pendingAccess.set(key, { name, version, at: Date.now(), count: 1 });
  }

  #withAccess(rec: ArtifactRecord): ArtifactRecord {
    const e = this.#pendingAccess.get(accessKey(rec.name, rec.version));
    if (e) {
      rec.lastAccessAt = Math.max(rec.lastAccessAt, e.at);
      rec.accessCount += e.count;
    }
    return rec;
  }

  #flushAccess(): void {
    if (!this.#pendingAccess.size || !this.#index?.open) return;
    const batch = [...this.#pendingAccess.values()];
    this.#pendingAccess.clear();
    try {
      this.#index.touch(batch);
    } catch (err) {
      this.#ctx?.log.warn(`could not record ${batch.length} access(es): ${(err as Error).message}`);
    }
  }

  /** After a crash: blob files that no record references (renamed, never committed; or unlinked late). */
  async #sweepOrphans(index: ArtifactIndex): Promise<number> {
    let n = 0;
    for await (const hash of this.#layout.walk()) {
      if (index.refs(hash)) continue;
      await unlink(this.#layout.blobPath(hash)).catch(() => undefined);
      n++;
    }
    return n;
  }

  /** A new index beside existing blobs (the index was lost or moved): keep the blobs, say so. */
  async #warnUnindexedBlobs(index: ArtifactIndex): Promise<void> {
    let n = 0;
    for await (const hash of this.#layout.walk()) if (!index.refs(hash)) n++;
    if (n) this.#ctx?.log.warn(`${n} blob(s) under ${this.#layout.blobs} have no index entry (a new index.db): kept, not removed`);
  }

  #notFound(method: string, name: string, version?: number): ArtifactNotFoundError {
    const versions = this.#index?.open ? this.#index.versions(name) : [];
    const list = (vs: { version: number }[]) => (vs.length > 12 ? `${vs.slice(0, 5).map((x) => x.version).join(', ')}, …, ${vs.slice(-5).map((x) => x.version).join(', ')}` : vs.map((x) => x.version).join(', '));
    let message: string;
    if (!versions.length) message = `no artifact named '${name}'`;
    else if (version !== undefined) message = `artifact '${name}' has no version ${version} (versions: ${list(versions)})`;
    else message = `artifact '${name}' has no live version (archived: ${list(versions)}); ask for a version explicitly`;
    return new ArtifactNotFoundError(`${method}: ${message}`, version === undefined ? { name } : { name, version });
  }

  /** Maps a failure while writing content to a typed bus error that names the artifact. */
  #writeError(err: unknown, name: string, file?: string): BusError {
    if (err instanceof BusError) return err;
    if (err instanceof BlobTooLargeError) return new InvalidParamsError(`artifacts: ${err.message}`, { name, maxBlobBytes: err.maxBytes });
    if (err instanceof SourceError) {
      const cause = err.cause as NodeJS.ErrnoException | undefined;
      if (file !== undefined) return new InvalidParamsError(`artifacts.put '${name}': cannot read the file ${file}: ${cause?.message ?? err.message}`, { name, file });
      return new InternalError(`artifacts.put '${name}': the source stream failed: ${cause?.message ?? err.message}`, { name }, { cause });
    }
    return new InternalError(`artifacts: cannot store '${name}': ${(err as Error).message ?? String(err)}`, { name }, { cause: err });
  }
}

/** Tags errors of the caller's source apart from the store's own I/O errors. */
async function* sourceOf(src: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  try {
    for await (const chunk of src) yield chunk as Uint8Array | string;
  } catch (err) {
    throw new SourceError((err as Error).message ?? String(err), { cause: err });
  }
}

function encodeMetadata(method: string, name: string, metadata: Record<string, unknown> | undefined): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(metadata ?? {});
  } catch (err) {
    throw new InvalidParamsError(`${method} '${name}': metadata: not JSON-serialisable (${(err as Error).message})`, { name, field: 'metadata' });
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw new InvalidParamsError(`${method} '${name}': metadata: larger than ${MAX_METADATA_BYTES} bytes as JSON`, { name, field: 'metadata' });
  return json;
}

function normalizeTags(tags: readonly string[] | undefined): string[] {
  return tags ? [...new Set(tags)].sort() : [];
}

function accessKey(name: string, version: number): string {
  return `${version}\u0000${name}`;
}

function peerOf(ctx: HandlerContext | undefined): string {
  return ctx?.peer ?? 'local';
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array | string> {
  return x !== null && typeof x === 'object' && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
