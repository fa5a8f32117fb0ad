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
 *
 * Files: store.ts (the extension, its bus methods), writes.ts, reads.ts, uploads.ts, verify.ts,
 * access.ts, quota.ts, blobs.ts (the files and their fsyncs), index-db.ts (the SQLite index),
 * schemas.ts (params), errors.ts, state.ts (what the parts share), types.ts.
 */
export { ArtifactStore } from './store.js';
export { ArtifactNotFoundError } from './errors.js';
export { ArtifactQuotaError } from './quota.js';
export { MAX_READ_CHUNK } from './schemas.js';
export type * from './types.js';
