/**
 * Reading the Artifact Store: records by name and version, by hash, or by filter (accesses not
 * yet written included), and content as a stream, a whole checked Buffer, or a range.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InternalError, InvalidParamsError } from '../../bus/index.js';
import { parseParams } from '../params.js';
import { ArtifactNotFoundError } from './errors.js';
import { Hash, ListFilterSchema, MiB, State } from './schemas.js';
import type { StoreState } from './state.js';
import type { ArtifactRecord, ArtifactState, ListFilter } from './types.js';

export class Reads {
  constructor(private readonly s: StoreState) {}

  get(name: string, version?: number): ArtifactRecord {
    const rec = this.find(name, version);
    if (!rec) throw this.s.notFound('artifacts.get', name, version);
    return rec;
  }

  find(name: string, version?: number): ArtifactRecord | undefined {
    const index = this.s.open();
    const rec = version === undefined ? index.latestLive(name) : index.one(name, version);
    return rec && this.s.access.apply(rec);
  }

  getByHash(hash: string): ArtifactRecord {
    const h = parseParams('artifacts.getByHash', Hash, hash);
    const rec = this.s.open().newestByHash(h);
    if (!rec) throw new ArtifactNotFoundError(`artifacts: no artifact has the content ${h}`, { hash: h });
    return this.s.access.apply(rec);
  }

  list(filter: ListFilter = {}): ArtifactRecord[] {
    const index = this.s.open();
    const rows = index.list(parseParams('artifacts.list', ListFilterSchema, filter));
    if (this.s.access.size) for (const r of rows) this.s.access.apply(r);
    return rows;
  }

  totalSize(filter: { state?: ArtifactState } = {}): number {
    const state = filter.state === undefined ? undefined : parseParams('artifacts.totalSize', State, filter.state);
    return this.s.open().totalSize(state);
  }

  createReadStream(hash: string, range: { start?: number; end?: number } = {}): Readable {
    const h = parseParams('artifacts.createReadStream', Hash, hash);
    const keys = this.s.open().keysByHash(h);
    if (!keys.length) throw new ArtifactNotFoundError(`artifacts: no artifact has the content ${h}`, { hash: h });
    for (const k of keys) this.s.access.record(k.name, k.version);
    this.s.counters.reads++;
    return createReadStream(this.s.layout.blobPath(h), { highWaterMark: MiB, start: range.start, end: range.end });
  }

  openStream(name: string, version?: number): { record: ArtifactRecord; stream: Readable } {
    const record = this.get(name, version);
    this.#accessed(record);
    return { record, stream: createReadStream(this.s.layout.blobPath(record.hash), { highWaterMark: MiB }) };
  }

  async read(name: string, version?: number): Promise<Buffer> {
    const record = this.get(name, version);
    const max = this.s.settings.maxReadBytes;
    if (record.size > max) {
      throw new InvalidParamsError(`artifacts.read: '${name}' v${record.version} is ${record.size} bytes, more than read() returns at once (maxReadBytes ${max}); use createReadStream`, { name, version: record.version });
    }
    const data = await this.#readBlob(record, () => readFile(this.s.layout.blobPath(record.hash)));
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== record.hash) {
      throw new InternalError(`artifacts: '${name}' v${record.version} is damaged on disk (its content hashes to ${actual}, not ${record.hash}); run artifacts.verify`, { name, version: record.version, hash: record.hash });
    }
    this.#accessed(record);
    return data;
  }

  async readRange(name: string, version: number | undefined, offset: number, length: number): Promise<{ record: ArtifactRecord; data: Buffer; eof: boolean }> {
    const record = this.get(name, version);
    if (offset > record.size) throw new InvalidParamsError(`artifacts.read: offset ${offset} is past the end of '${name}' v${record.version} (${record.size} bytes)`, { name, version: record.version });
    const want = Math.min(length, record.size - offset);
    const data = await this.#readBlob(record, () => readAt(this.s.layout.blobPath(record.hash), offset, want));
    if (offset === 0) this.#accessed(record);
    return { record, data, eof: offset + data.length >= record.size };
  }

  #accessed(record: ArtifactRecord): void {
    this.s.access.record(record.name, record.version);
    this.s.counters.reads++;
  }

  async #readBlob(record: ArtifactRecord, read: () => Promise<Buffer>): Promise<Buffer> {
    try {
      return await read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Deleted between the lookup and the open, or lost: say which.
        if (!this.s.open().one(record.name, record.version)) throw this.s.notFound('artifacts.read', record.name, record.version);
        throw new InternalError(`artifacts: the blob of '${record.name}' v${record.version} (${record.hash}) is missing from disk; run artifacts.verify`, { name: record.name, version: record.version, hash: record.hash });
      }
      throw new InternalError(`artifacts: cannot read '${record.name}' v${record.version}: ${(err as Error).message}`, { name: record.name, version: record.version }, { cause: err });
    }
  }
}

/** Up to `want` bytes of a file from `offset` (fewer at its end). */
async function readAt(path: string, offset: number, want: number): Promise<Buffer> {
  const fh = await open(path, 'r');
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
}
