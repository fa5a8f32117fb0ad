import type { Readable } from 'node:stream';

/** `live` artifacts are what `get(name)` resolves to; `archived` ones stay readable by explicit version. */
export type ArtifactState = 'live' | 'archived';

/** One version of a named artifact, as the index holds it. */
export interface ArtifactRecord {
  name: string;
  /** 1, 2, … per name; never reused, even after a delete. */
  version: number;
  /** SHA-256 of the content, lowercase hex (64 characters). */
  hash: string;
  /** Bytes. */
  size: number;
  metadata: Record<string, unknown>;
  /** A set: sorted, without duplicates. */
  tags: string[];
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds; `createdAt` until the first read. */
  lastAccessAt: number;
  accessCount: number;
  state: ArtifactState;
}

/** Content for `put`: exactly one of `data`, `stream` or `file`. */
export interface PutOptions {
  name: string;
  /** Small content in memory (a string is stored as UTF-8). */
  data?: Buffer | Uint8Array | string;
  /** Streamed to disk as it arrives, never held whole in memory (a Node Readable or any async iterable of chunks). */
  stream?: Readable | AsyncIterable<Uint8Array | string>;
  /** A file to copy in, streamed. */
  file?: string;
  metadata?: Record<string, unknown>;
  tags?: readonly string[];
}

export interface ListFilter {
  name?: string;
  tag?: string;
  state?: ArtifactState;
  hash?: string;
  /** At most this many records (default: all in-process, 500 over the bus). */
  limit?: number;
  /** Skip this many (for paging; the order is name, then version). */
  offset?: number;
}

export interface DeleteResult {
  name: string;
  version: number;
  hash: string;
  size: number;
  /** This was the last record using the content, so its blob is removed (right after the call returns). */
  blobRemoved: boolean;
}

export type TagMode = 'add' | 'remove' | 'set';

/** A blob that failed verification, and the records that point at it. */
export interface BlobProblem {
  hash: string;
  /** The size the index expects. */
  size: number;
  /** What is on disk (missing: absent). */
  actualSize?: number;
  /** The content's real SHA-256 (only when rehashed). */
  actualHash?: string;
  records: { name: string; version: number }[];
}

export interface VerifyReport {
  /** No missing or corrupt blob and the index passed SQLite's quick_check. */
  ok: boolean;
  /** Whether blobs were rehashed (`rehash: true`, the default) or only their size checked. */
  rehashed: boolean;
  /** Distinct blobs checked, records they serve, bytes read. */
  blobs: number;
  records: number;
  bytes: number;
  missing: BlobProblem[];
  corrupt: BlobProblem[];
  /** Blob files no record references (harmless: removed at the next init after a crash). */
  orphans: number;
  /** SQLite `PRAGMA quick_check`: `ok` or its first complaints. */
  index: string;
  ms: number;
}

export interface ArtifactStats {
  artifacts: number;
  live: number;
  archived: number;
  names: number;
  /** Distinct blobs (content) on disk. */
  blobs: number;
  /** Sum of the records' sizes (a blob shared by n records counts n times). */
  logicalBytes: number;
  /** Bytes of distinct blobs: what the store occupies on disk. */
  storedBytes: number;
  /** Chunked uploads in progress. */
  uploads: number;
  counters: ArtifactCounters;
  /** What the last init cleaned up. */
  recovered: { uncleanShutdown: boolean; tempFiles: number; orphanBlobs: number };
  dataDir: string;
}

/** Operation counts since the store was created (carried across restarts by the snapshot). */
export interface ArtifactCounters {
  puts: number;
  /** Puts whose content was already stored. */
  deduplicated: number;
  bytesWritten: number;
  reads: number;
  deletes: number;
  blobsRemoved: number;
  archived: number;
}

/** The snapshot: only counters. The durable state is the SQLite index and the blob files. */
export interface ArtifactSnapshot {
  counters: ArtifactCounters;
}

/** Settings (the Pit's `with.artifacts`). */
export interface ArtifactSettings {
  /** Largest blob accepted, in bytes (default 1 GiB). */
  maxBlobBytes?: number;
  /** Largest blob `read()` returns as one Buffer (default 64 MiB; stream bigger ones). */
  maxReadBytes?: number;
  /** `full` (default: every acknowledged put survives a power loss) or `normal` (survives a process crash, not a power loss; faster commits). */
  synchronous?: 'full' | 'normal';
  /** How long init waits for another process holding the index (default 2000 ms). */
  lockTimeoutMs?: number;
  /** Chunked uploads idle this long are aborted (default 300,000 ms). */
  uploadIdleMs?: number;
  /** Chunked uploads in progress at once (default 64). */
  maxUploads?: number;
  /** Access statistics are written in batches this often (default 1000 ms). */
  accessFlushMs?: number;
  /** Bytes each bus caller may keep stored (the sizes of its records; a delete frees them). Unset: no quota. An extension's grant (limits.artifactsBytes) sets its own. Past it: ArtifactQuotaError (-32005). */
  quotaBytes?: number;
}
