/**
 * The Artifact Store's params, checked the same way in process and over the bus: names, tags,
 * versions, hashes, metadata, and each method's shape. A mismatch is -32602 naming the field.
 */
import { InvalidParamsError } from '../../bus/index.js';
import { v } from '../params.js';
import type { PutOptions } from './types.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Largest `artifacts.read` chunk: its base64 (4/3 of it) stays well under the bus's 1 MiB frame. */
export const MAX_READ_CHUNK = 512 * KiB;
const MAX_METADATA_BYTES = 64 * KiB;

const CONTROL = /^[^\u0000-\u001f\u007f]*$/;
export const Name = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(1024, 'must be at most 1024 characters'), v.regex(CONTROL, 'must not contain control characters'));
const Tag = v.pipe(v.string(), v.minLength(1, 'a tag must not be empty'), v.maxLength(128, 'a tag must be at most 128 characters'), v.regex(CONTROL, 'a tag must not contain control characters'));
export const Tags = v.pipe(v.array(Tag), v.maxLength(64, 'at most 64 tags'));
const Version = v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1, 'must be 1 or more'));
export const Hash = v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, 'must be a SHA-256 in hex (64 characters)'), v.toLowerCase());
export const State = v.picklist(['live', 'archived'] as const);
const Metadata = v.custom<Record<string, unknown>>(isPlainObject, 'must be a JSON object');
const Base64 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64'));
const Mode = v.picklist(['add', 'remove', 'set'] as const);
const Count = (dflt: number) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), dflt);

export const SettingsSchema = v.object({
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
export type Settings = v.InferOutput<typeof SettingsSchema>;

export const QuotaSchema = v.object({
  caller: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
  /** null: back to the store's default. */
  bytes: v.nullable(v.pipe(v.number(), v.integer('must be a whole number of bytes'), v.minValue(1, 'must be at least 1'))),
});

/** In-process `put`: content in memory, as a stream, or a file. */
export const PutSchema = v.object({
  name: Name,
  data: v.optional(v.union([v.string(), v.instance(Uint8Array)], 'must be a string or a Buffer')),
  stream: v.optional(v.custom<NonNullable<PutOptions['stream']>>(isAsyncIterable, 'must be a Readable or an async iterable of chunks')),
  file: v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty'))),
  metadata: v.optional(Metadata),
  tags: v.optional(Tags),
});
/** `artifacts.put` over the bus: content as text or base64, in one frame. */
export const BusPutSchema = v.object({
  name: Name,
  data: v.optional(v.string()),
  dataBase64: v.optional(Base64),
  metadata: v.optional(Metadata),
  tags: v.optional(Tags),
});
export const BeginSchema = v.object({ name: Name, metadata: v.optional(Metadata), tags: v.optional(Tags) });
export type BeginParams = v.InferOutput<typeof BeginSchema>;
export const UploadId = v.object({ upload: v.pipe(v.string(), v.minLength(1)) });
export const ChunkSchema = v.object({
  upload: v.pipe(v.string(), v.minLength(1)),
  dataBase64: Base64,
  /** Where the chunk starts; when given it must equal the bytes received so far (catches a lost or repeated chunk). */
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});
export type ChunkParams = v.InferOutput<typeof ChunkSchema>;
export const GetSchema = v.object({ name: Name, version: v.optional(Version) });
export const ReadSchema = v.object({
  name: Name,
  version: v.optional(Version),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  length: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_READ_CHUNK, `must be at most ${MAX_READ_CHUNK} (512 KiB)`)), MAX_READ_CHUNK),
});
export const ListFilterSchema = v.object({
  name: v.optional(Name),
  tag: v.optional(Tag),
  state: v.optional(State),
  hash: v.optional(Hash),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});
export const BusListSchema = v.object({
  ...ListFilterSchema.entries,
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(5_000, 'must be at most 5000')), 500),
  offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});
export const KeySchema = v.object({ name: Name, version: Version });
export const TagSchema = v.object({ name: Name, version: Version, tags: Tags, mode: v.optional(Mode, 'add') });
export const VerifySchema = v.object({ rehash: v.optional(v.boolean(), true) });
export const Empty = v.object({});

/** Metadata as stored: JSON of a plain object, at most 64 KiB. */
export function encodeMetadata(method: string, name: string, metadata: Record<string, unknown> | undefined): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(metadata ?? {});
  } catch (err) {
    throw new InvalidParamsError(`${method} '${name}': metadata: not JSON-serialisable (${(err as Error).message})`, { name, field: 'metadata' });
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw new InvalidParamsError(`${method} '${name}': metadata: larger than ${MAX_METADATA_BYTES} bytes as JSON`, { name, field: 'metadata' });
  return json;
}

/** Tags as stored: a set, sorted. */
export function normalizeTags(tags: readonly string[] | undefined): string[] {
  return tags ? [...new Set(tags)].sort() : [];
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array | string> {
  return x !== null && typeof x === 'object' && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
