import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Where blobs, temp files and the index live under a store's data folder. */
export class BlobLayout {
  readonly blobs: string;
  readonly tmp: string;
  readonly index: string;
  /** Shard folders known to exist (and to be durable) in this process. */
  readonly #shards = new Set<string>();

  constructor(readonly root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.tmp = join(root, 'tmp');
    this.index = join(root, 'index.db');
  }

  shardDir(hash: string): string {
    return join(this.blobs, hash.slice(0, 2));
  }

  blobPath(hash: string): string {
    return join(this.blobs, hash.slice(0, 2), hash.slice(2));
  }

  /** Creates the folders; new ones are made durable, from the topmost created one's parent down. */
  async prepare(): Promise<void> {
    const made = await mkdir(this.blobs, { recursive: true });
    await mkdir(this.tmp, { recursive: true });
    if (made !== undefined) {
      const chain: string[] = [];
      for (let d = this.blobs; d !== dirname(made); d = dirname(d)) chain.push(dirname(d));
      for (const d of chain.reverse()) await fsyncDir(d);
    }
  }

  /**
   * Creates the blob's shard folder if needed. A new folder's own entry must reach the disk
   * before a blob renamed into it counts as stored, so the parent is fsynced when it is created.
   */
  async ensureShard(hash: string): Promise<string> {
    const dir = this.shardDir(hash);
    if (this.#shards.has(dir)) return dir;
    try {
      await mkdir(dir);
      await fsyncDir(this.blobs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.#shards.add(dir);
    return dir;
  }

  /**
   * Moves a finished temp file to its content address and makes the move durable. Renaming over
   * an existing blob (a duplicate) is deliberate: the bytes just written were hashed and fsynced,
   * so the store keeps a copy known to be good at no extra cost, and a damaged older copy heals.
   */
  async place(tmpPath: string, hash: string): Promise<void> {
    const dir = await this.ensureShard(hash);
    await rename(tmpPath, this.blobPath(hash));
    // The rename is only durable once its folder is fsynced; the caller commits the index row after.
    await fsyncDir(dir);
  }

  /** Removes every temp file (run at init, when no write of this store can be in progress). */
  async cleanTemp(): Promise<number> {
    const names = await readdir(this.tmp).catch(() => [] as string[]);
    await Promise.all(names.map((n) => rm(join(this.tmp, n), { force: true, recursive: true })));
    return names.length;
  }

  /** Every blob file on disk, as its hash (files that are not content addresses are skipped). */
  async *walk(): AsyncGenerator<string> {
    const shards = await readdir(this.blobs).catch(() => [] as string[]);
    for (const shard of shards.sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const files = await readdir(join(this.blobs, shard)).catch(() => [] as string[]);
      for (const f of files) if (/^[0-9a-f]{62}$/.test(f)) yield shard + f;
    }
  }
}

/**
 * Streams content into a temp file while hashing it; `finish` fsyncs and reports the SHA-256.
 * Small chunks are coalesced into writes of about 1 MiB, so memory stays bounded (one batch)
 * whatever the blob's size.
 */
export class BlobWriter {
  static readonly BATCH = 1024 * 1024;
  readonly #hash: Hash = createHash('sha256');
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #size = 0;
  #closed = false;

  private constructor(
    readonly path: string,
    readonly maxBytes: number,
    readonly label: string,
    readonly fh: FileHandle,
  ) {}

  /** Opens a new temp file (`wx`: never clobbers another writer's). */
  static async open(tmpDir: string, maxBytes: number, label: string): Promise<BlobWriter> {
    const path = join(tmpDir, `${randomUUID()}.part`);
    return new BlobWriter(path, maxBytes, label, await open(path, 'wx', 0o600));
  }

  get size(): number {
    return this.#size;
  }

  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.#closed) throw new Error(`the upload of '${this.label}' is already finished`);
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#size + buf.length > this.maxBytes) throw new BlobTooLargeError(this.label, this.maxBytes);
    this.#hash.update(buf);
    this.#size += buf.length;
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    if (this.#pendingBytes >= BlobWriter.BATCH) await this.#flush();
  }

  /** Flushes, fsyncs and closes the temp file; the content is then durable under `path`. */
  async finish(): Promise<{ hash: string; size: number }> {
    await this.#flush();
    // datasync: the data and the size (needed to read it back), without the timestamps.
    await this.fh.datasync();
    this.#closed = true;
    await this.fh.close();
    return { hash: this.#hash.digest('hex'), size: this.#size };
  }

  /** Closes and removes the temp file; never throws. */
  async abort(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.path).catch(() => undefined);
  }

  async #flush(): Promise<void> {
    if (!this.#pendingBytes) return;
    let chunks = this.#pending;
    let left = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    // writev may write less than asked (a full disk reports its error on the next call): loop.
    while (left > 0) {
      const { bytesWritten } = await this.fh.writev(chunks);
      left -= bytesWritten;
      if (left > 0) chunks = dropBytes(chunks, bytesWritten);
    }
  }
}

export class BlobTooLargeError extends Error {
  override name = 'BlobTooLargeError';
  constructor(
    readonly label: string,
    readonly maxBytes: number,
  ) {
    super(`'${label}' is larger than the store's limit of ${maxBytes} bytes (maxBlobBytes)`);
  }
}

function dropBytes(chunks: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (n >= c.length) {
      n -= c.length;
      continue;
    }
    out.push(n > 0 ? c.subarray(n) : c);
    n = 0;
  }
  return out;
}

/** Makes a folder's entries (a rename, a new file) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a folder to sync it; NTFS journals its metadata itself.
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * SHA-256 and size of a file, read in pieces into `buf` (pass one per concurrent caller to
 * reuse it): cheaper than a read stream, which matters when verifying thousands of small blobs.
 */
export async function hashFile(path: string, buf: Buffer = Buffer.allocUnsafe(1024 * 1024)): Promise<{ hash: string; size: number }> {
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { hash: h.digest('hex'), size };
  } finally {
    await fh.close();
  }
}

/** Runs `fn` over `items` with at most `limit` at once (I/O-bound work: libuv has 4 threads). */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async (_, worker) => {
      while (next < items.length) await fn(items[next++]!, worker);
    }),
  );
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The size of a file, or undefined when it is absent. */
export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
