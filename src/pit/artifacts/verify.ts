/**
 * The Artifact Store's check: every blob the index references is present, of the recorded size
 * and (with `rehash`, the default) hashes to its address; plus SQLite's quick_check of the index
 * and a count of blobs no record references. Reports, repairs nothing.
 */
import { forEachLimit, hashFile, sizeOf } from './blobs.js';
import { MiB } from './schemas.js';
import type { StoreState } from './state.js';
import type { VerifyReport } from './types.js';

/** Blobs checked at once: enough to keep libuv's 4 I/O threads busy. */
const VERIFY_CONCURRENCY = 4;

export async function verify(s: StoreState, rehash: boolean): Promise<VerifyReport> {
  const t0 = performance.now();
  const index = s.open();
  const report: VerifyReport = { ok: true, rehashed: rehash, blobs: 0, records: 0, bytes: 0, missing: [], corrupt: [], orphans: 0, index: index.quickCheck(), ms: 0 };
  // One read buffer per worker: rehashing thousands of small blobs should not allocate for each.
  const buffers = Array.from({ length: VERIFY_CONCURRENCY }, () => Buffer.allocUnsafe(MiB));
  let after = '';
  for (;;) {
    const page = s.open().blobsAfter(after, 256);
    if (!page.length) break;
    after = page[page.length - 1]!.hash;
    await forEachLimit(page, VERIFY_CONCURRENCY, (b, worker) => checkBlob(s, report, b, buffers[worker]!));
  }
  report.missing.sort((x, y) => x.hash.localeCompare(y.hash));
  report.corrupt.sort((x, y) => x.hash.localeCompare(y.hash));
  for await (const hash of s.layout.walk()) if (!s.open().refs(hash)) report.orphans++;
  report.ok = !report.missing.length && !report.corrupt.length && report.index === 'ok';
  report.ms = Math.round(performance.now() - t0);
  if (!report.ok) s.ctx?.log.warn(`verify: ${report.missing.length} missing and ${report.corrupt.length} damaged blob(s); index check: ${report.index}`);
  return report;
}

async function checkBlob(s: StoreState, report: VerifyReport, b: { hash: string; size: number; records: number }, buffer: Buffer): Promise<void> {
  const rehash = report.rehashed;
  const path = s.layout.blobPath(b.hash);
  let found: { size: number; hash?: string } | undefined;
  if (rehash) found = await hashFile(path, buffer).catch(() => undefined);
  else {
    const size = await sizeOf(path);
    found = size === undefined ? undefined : { size };
  }
  const bad = !found || found.size !== b.size || (found.hash !== undefined && found.hash !== b.hash);
  // A blob that looks wrong may just have been deleted while we walked: not a problem then.
  if (bad && !s.open().refs(b.hash)) return;
  report.blobs++;
  report.records += b.records;
  if (!bad) {
    report.bytes += rehash ? b.size : 0;
    return;
  }
  const records = s.open().keysByHash(b.hash);
  if (!found) report.missing.push({ hash: b.hash, size: b.size, records });
  else report.corrupt.push({ hash: b.hash, size: b.size, actualSize: found.size, ...(found.hash !== undefined && found.hash !== b.hash ? { actualHash: found.hash } : {}), records });
  if (found) report.bytes += rehash ? found.size : 0;
}
