/**
 * Hostile input, fuzzers: seeded fast-check generators for everything the kernel reads from
 * outside. Each takes a size, so the same code runs short (`npm test`) and long (`npm run soak`),
 * and returns its figures (and the first failures, with what reproduces them) instead of throwing.
 *
 * - fuzzDecoder(frames): the wire decoder (src/bus/framing.ts) against an oracle written from
 *   docs/protocol.md, over any chunking, plus a probe of the memory it retains.
 * - fuzzConfig(runs): config texts (YAML, TOML) into loadSystemText: a system or a ConfigError with
 *   positioned diagnostics, nothing else, never a hang.
 * - fuzzManifests(runs): extension package.json files into readManifest: problems or a manifest.
 *
 * Config and manifest cases run in a worker thread with a per-case watchdog: a synchronous hang
 * (a parser loop) cannot be bounded by a timer in the thread that hangs, so the main thread
 * terminates the worker, records the case, and carries on in a fresh one.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import { FrameDecoder, type Decoded, type Framing } from '../../src/bus/framing.js';
import { ConfigSyntaxError } from '../../src/config/index.js';
import { ConfigError, loadSystemText } from '../../src/system/index.js';
import { readManifest } from '../../src/orchestra/manifest.js';

/** A full garbage collection (exposing gc on the fly when the process was started without --expose-gc). */
export function forceGc(times = 2): void {
  if (!gcFn) {
    gcFn = (globalThis as { gc?: () => void }).gc;
    if (!gcFn) {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  for (let i = 0; i < times; i++) gcFn();
}
let gcFn: (() => void) | undefined;

const MIB = 1024 * 1024;

// ==== the wire decoder ==================================================================================

export interface DecoderFuzzOptions {
  seed?: number;
  /** How much each memory probe streams, in multiples of its maxFrameBytes (default 8 from 100,000 frames, else 2). */
  probeFrames?: number;
  /** Memory probes (default 6; 0 skips them). */
  probes?: number;
  /** Failures kept in `samples` (default 5). */
  samples?: number;
}

export type SegmentKind = 'valid' | 'blank' | 'garbage' | 'glued' | 'oversize' | 'boundary' | 'empty' | 'junk-headers' | 'truncated' | 'runaway';

export interface DecoderFailure {
  /** What went wrong: a throw out of push(), a "decoder reset" (an internal throw it caught), or output that differs from the oracle. */
  kind: 'throw' | 'reset' | 'mismatch' | 'memory';
  /** The stream's batch seed and index in its batch: replayDecoderStream(result.seed, replay) rebuilds it. */
  replay: { seed: number; index: number };
  framing: Framing;
  pass: string;
  detail: string;
  /** The stream, JSON-escaped and shortened. */
  stream: string;
}

export interface MemoryProbe {
  shape: string;
  chunkBytes: number;
  streamedBytes: number;
  /** The most the decoder retained between pushes (heap + array buffers after a full GC, over the empty baseline). */
  maxHeldBytes: number;
  boundBytes: number;
}

export interface DecoderFuzzResult {
  seed: number;
  /** Frames generated: valid, garbage, oversize, truncated, … (each stream counted once). */
  frames: number;
  byKind: Record<SegmentKind, number>;
  streams: number;
  /** Stream bytes generated (each stream counted once). */
  bytes: number;
  /** Decoder passes (whole stream, random chunking, framing detection) and frames decoded over all of them. */
  passes: number;
  framesDecoded: number;
  pushes: number;
  failures: number;
  failuresByKind: Record<DecoderFailure['kind'], number>;
  samples: DecoderFailure[];
  /** The whole run; `fuzzMs` the streams alone, without the memory probes (frames/s and MB/s are of those). */
  ms: number;
  fuzzMs: number;
  framesPerSecond: number;
  mbPerSecond: number;
  memory: { probes: MemoryProbe[]; maxHeldBytes: number; withinBound: boolean };
}

/** An expected decoder output: a canonical string (message JSON or error kind[:id]); `anyId` for a too-large whose id is unknowable. */
interface Expect {
  key: string;
  anyId?: boolean;
}

type IdLiteral = { literal: string; value: string | number | undefined };

interface SegmentSpec {
  kind: SegmentKind;
  /** Index into the message pool (valid, boundary, truncated). */
  pick: number;
  /** Random bytes (garbage, glued) or a length selector. */
  bytes: Uint8Array;
  /** Oversize: bytes over the limit; boundary: 0 (exactly the limit) or 1. */
  extra: number;
  id: IdLiteral;
  /** Style variant: line ending, header form, … */
  style: number;
  /** The stream ends inside this segment (truncated, runaway, oversize cut short). */
  end?: boolean;
}

interface StreamSpec {
  framing: Framing;
  max: number;
  segments: SegmentSpec[];
  chunking: { kind: 'cuts'; cuts: number[] } | { kind: 'fixed'; size: number };
}

const NL = 0x0a;
const CR = 0x0d;

/** Any code point, lone surrogates included (a `binary` string unit builds a table of them all first). */
const codePoint = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));

/** A pool of messages, encoded once (generating JSON per frame would dominate the run time). */
function messagePool(seed: number): { json: string; key: string }[] {
  const id = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.string({ unit: codePoint, maxLength: 8 }));
  const params = fc.jsonValue({ maxDepth: 3 });
  const message = fc.oneof(
    fc.record({ jsonrpc: fc.constant('2.0'), id, method: fc.string({ minLength: 1, maxLength: 24 }), params }, { requiredKeys: ['jsonrpc', 'id', 'method'] }),
    fc.record({ jsonrpc: fc.constant('2.0'), method: fc.string({ unit: codePoint, minLength: 1, maxLength: 24 }), params }, { requiredKeys: ['jsonrpc', 'method'] }),
    fc.record({ jsonrpc: fc.constant('2.0'), id, result: params }),
    fc.record({ jsonrpc: fc.constant('2.0'), id: fc.oneof(id, fc.constant(null)), error: fc.record({ code: fc.integer(), message: fc.string() }) }),
    // Any JSON at all: the decoder frames, it does not judge (the session answers -32600).
    fc.jsonValue({ maxDepth: 4 }),
  );
  return fc.sample(message, { seed, numRuns: 600 }).map((m) => {
    const json = JSON.stringify(m);
    return { json, key: `M${JSON.stringify(JSON.parse(json))}` };
  });
}

/** Ids of oversize frames: JSON ids of every form, and tokens the decoder's id probe matches that are not JSON. */
function idArbitrary(): fc.Arbitrary<IdLiteral> {
  const lit = (value: string | number) => ({ literal: JSON.stringify(value), value });
  // Non-ASCII escaped as \uXXXX: valid JSON, ASCII on the wire.
  const asciiLiteral = (s: string) => ({ literal: JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), value: s });
  const valid = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map(lit),
    fc.maxSafeInteger().map(lit),
    fc.string({ maxLength: 20 }).map(asciiLiteral),
    fc.string({ unit: codePoint, maxLength: 10 }).map(asciiLiteral),
    fc.constant({ literal: 'null', value: undefined }),
  );
  return fc.oneof(
    valid,
    // Leading zeros, invalid escapes and raw control characters match the probe but are not JSON:
    // the -32006 then has no id (`value` undefined).
    fc.nat({ max: 999 }).map((n) => ({ literal: `0${n}`, value: undefined })),
    fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), fc.constantFrom('q', 'x', 'a', '0', "'")).map(([s, c]) => ({ literal: `"${s.replace(/["\\]/g, '')}\\${c}"`, value: undefined })),
    fc.constantFrom('\t', '\u0001', '\u001f').map((c) => ({ literal: `"a${c}b"`, value: undefined })),
    // Raw UTF-8 (not escaped): the probe must decode it as UTF-8 in both framings.
    fc.string({ unit: codePoint, minLength: 1, maxLength: 6 }).filter((s) => /[^\x00-\x7f]/.test(s)).map((s) => ({ literal: JSON.stringify(s), value: s })),
  );
}

function streamArbitrary(poolSize: number): fc.Arbitrary<StreamSpec> {
  // Arbitraries are built once, not per stream (building them would dominate the run time).
  const id = idArbitrary();
  const kinds = (framing: Framing): fc.Arbitrary<SegmentKind> =>
    fc.oneof(
      { arbitrary: fc.constant<SegmentKind>('valid'), weight: 12 },
      { arbitrary: fc.constant<SegmentKind>('garbage'), weight: 4 },
      { arbitrary: fc.constant<SegmentKind>('oversize'), weight: 2 },
      { arbitrary: fc.constant<SegmentKind>('boundary'), weight: 1 },
      ...(framing === 'ndjson'
        ? [
            { arbitrary: fc.constant<SegmentKind>('blank'), weight: 2 },
            { arbitrary: fc.constant<SegmentKind>('glued'), weight: 1 },
          ]
        : [
            { arbitrary: fc.constant<SegmentKind>('empty'), weight: 1 },
            { arbitrary: fc.constant<SegmentKind>('junk-headers'), weight: 2 },
          ]),
    );
  const segment = (framing: Framing) =>
    fc.record({
      kind: kinds(framing),
      pick: fc.nat({ max: poolSize - 1 }),
      bytes: fc.uint8Array({ maxLength: 48 }),
      extra: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 4096 })),
      id,
      style: fc.nat({ max: 7 }),
    });
  // Three streams in four end inside a frame: truncated, endless, or oversize and cut short.
  const last = () =>
    fc.option(
      fc.record({
        kind: fc.constantFrom<SegmentKind>('truncated', 'runaway', 'oversize'),
        pick: fc.nat({ max: poolSize - 1 }),
        bytes: fc.uint8Array({ maxLength: 8 }),
        extra: fc.integer({ min: 1, max: 2048 }),
        id,
        style: fc.nat({ max: 7 }),
      }).map((s): SegmentSpec => ({ ...s, end: true })),
      { freq: 4 },
    );
  const stream = (framing: Framing) =>
    fc.record({
      framing: fc.constant(framing),
      max: fc.constantFrom(64, 256, 1024, 4096, 65536),
      segments: fc.tuple(fc.array(segment(framing), { minLength: 1, maxLength: 100 }), last()).map(([s, l]): SegmentSpec[] => (l ? [...s, l] : s)),
      chunking: fc.oneof(
        { arbitrary: fc.array(fc.nat(), { maxLength: 40 }).map((cuts) => ({ kind: 'cuts' as const, cuts })), weight: 6 },
        { arbitrary: fc.integer({ min: 1, max: 64 }).map((size) => ({ kind: 'fixed' as const, size })), weight: 1 },
      ),
    });
  return fc.oneof(stream('ndjson'), stream('content-length'));
}

/** Builds a stream's bytes and what a correct decoder must output for it. */
function buildStream(spec: StreamSpec, pool: { json: string; key: string }[]): { bytes: Buffer; expected: Expect[]; counts: Partial<Record<SegmentKind, number>> } {
  const parts: Buffer[] = [];
  const expected: Expect[] = [];
  const counts: Partial<Record<SegmentKind, number>> = {};
  const { max } = spec;
  const fits = (i: number) => {
    // A pool message that fits the limit (the pool is small: walk from the pick).
    for (let k = 0; k < pool.length; k++) {
      const m = pool[(i + k) % pool.length]!;
      if (Buffer.byteLength(m.json) <= max - 2) return m;
    }
    return { json: '1', key: 'M1' };
  };
  /** A JSON text of exactly `size` bytes, carrying `id` near its start. */
  const sized = (id: IdLiteral, size: number) => {
    const head = `{"jsonrpc":"2.0","id":${id.literal},"method":"big","params":"`;
    const pad = Math.max(0, size - Buffer.byteLength(head) - 2);
    return Buffer.from(`${head}${'x'.repeat(pad)}"}`);
  };
  // The id comes from the frame's first 512 bytes, whatever the limit and the chunking (sized() puts it there).
  const tooLarge = (id: IdLiteral): Expect => ({ key: `E:too-large:${id.value === undefined ? '' : JSON.stringify(id.value)}` });

  if (spec.framing === 'ndjson') {
    // Bytes of a line not yet terminated (glued garbage), which the next line absorbs.
    let glued: Buffer | undefined;
    const line = (body: Buffer, crlf: boolean, known: Expect | undefined) => {
      const full = glued ? Buffer.concat([glued, body]) : body;
      const wasGlued = glued !== undefined;
      glued = undefined;
      parts.push(full, Buffer.from(crlf ? '\r\n' : '\n'));
      const raw = full.length + (crlf ? 1 : 0);
      if (raw > max) return void expected.push(wasGlued || !known ? { key: 'E:too-large', anyId: true } : known);
      expected.push(...expectLine(full));
    };
    for (const s of spec.segments) {
      counts[s.kind] = (counts[s.kind] ?? 0) + 1;
      const end = s.end === true;
      switch (s.kind) {
        case 'valid':
          line(Buffer.from(fits(s.pick).json), s.style % 3 === 0, undefined);
          break;
        case 'blank':
          line(Buffer.from(['', ' ', '\t', ' \t ', '\r', '  \r'][s.style % 6]!), false, undefined);
          break;
        case 'garbage':
        case 'glued': {
          const g = Buffer.from(s.bytes.filter((b) => b !== NL).subarray(0, Math.max(1, max >> 1)));
          if (s.kind === 'glued') glued = glued ? Buffer.concat([glued, g]) : g;
          else line(g, false, undefined);
          break;
        }
        case 'oversize':
          if (end) {
            // The stream ends inside an oversize line: nothing comes out, nothing is held past the limit.
            if (glued) glued = undefined;
            parts.push(sized(s.id, max + s.extra).subarray(0, max + Math.max(1, s.extra >> 1)));
          } else {
            line(sized(s.id, max + s.extra), false, tooLarge(s.id));
          }
          break;
        case 'boundary': {
          const id: IdLiteral = { literal: String(s.pick), value: s.pick };
          const body = sized(id, max + (s.extra % 2));
          line(body, false, s.extra % 2 ? tooLarge(id) : undefined);
          break;
        }
        case 'truncated': {
          const m = Buffer.from(fits(s.pick).json);
          const cut = m.subarray(0, Math.max(1, m.length - 1 - (s.style % Math.max(1, m.length - 1))));
          if (glued) glued = undefined;
          parts.push(cut);
          break;
        }
        case 'runaway':
          if (glued) glued = undefined;
          parts.push(Buffer.from('{"jsonrpc":"2.0","id":1,"params":"'), Buffer.alloc(max + 1 + s.extra, 0x79));
          break;
        default:
          break;
      }
    }
    // A glued fragment left at the end is an unterminated line: no output.
    if (glued) parts.push(glued);
  } else {
    const header = (n: number, style: number, junk: Uint8Array) => {
      const junkLine = `X-J${Buffer.from(junk).toString('hex').slice(0, 16)}: ${Buffer.from(junk).toString('base64').slice(0, 20)}\r\n`;
      switch (style % 6) {
        case 0:
          return `Content-Length: ${n}\r\n\r\n`;
        case 1:
          return `content-length:${n}\r\n\r\n`;
        case 2:
          return `CONTENT-LENGTH:   ${n}  \r\n\r\n`;
        case 3:
          return `Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: ${n}\r\n\r\n`;
        case 4:
          return `Content-Length: ${n}\r\n${junkLine}\r\n`;
        default:
          return `Content-Length: 0${n}\r\n\r\n`;
      }
    };
    const frame = (body: Buffer, style: number, junk: Uint8Array) => parts.push(Buffer.from(header(body.length, style, junk)), body);
    let afterJunk = false;
    for (const s of spec.segments) {
      counts[s.kind] = (counts[s.kind] ?? 0) + 1;
      const wasJunk = afterJunk;
      afterJunk = s.kind === 'junk-headers';
      const end = s.end === true;
      switch (s.kind) {
        case 'valid': {
          const m = fits(s.pick);
          frame(Buffer.from(m.json), s.style, s.bytes);
          expected.push({ key: m.key });
          break;
        }
        case 'garbage': {
          // A body that is not JSON, with its true length: the stream stays in sync.
          const body = Buffer.from(s.bytes.subarray(0, Math.max(1, max >> 1)));
          frame(body, s.style, s.bytes);
          expected.push(...expectLine(body));
          break;
        }
        case 'empty':
          parts.push(Buffer.from(header(0, s.style, s.bytes)));
          break;
        case 'junk-headers':
          // A header block without Content-Length: an error, then on with the next Content-Length
          // header (junk blocks in a row are skipped together: one error).
          parts.push(Buffer.from(`X-Nothing: ${Buffer.from(s.bytes).toString('base64').slice(0, 30)}\r\n\r\n`));
          if (!wasJunk) expected.push({ key: 'E:header' });
          break;
        case 'oversize': {
          const body = sized(s.id, max + s.extra);
          if (end) {
            parts.push(Buffer.from(header(body.length, s.style, s.bytes)), body.subarray(0, body.length >> 1));
          } else {
            frame(body, s.style, s.bytes);
            expected.push(tooLarge(s.id));
          }
          break;
        }
        case 'boundary': {
          const id: IdLiteral = { literal: String(s.pick), value: s.pick };
          frame(sized(id, max + (s.extra % 2)), s.style, s.bytes);
          expected.push(s.extra % 2 ? tooLarge(id) : { key: `M${JSON.stringify(JSON.parse(sized(id, max).toString()))}` });
          break;
        }
        case 'truncated': {
          const m = Buffer.from(fits(s.pick).json);
          const whole = Buffer.concat([Buffer.from(header(m.length, s.style, s.bytes)), m]);
          parts.push(whole.subarray(0, Math.max(1, whole.length - 1 - (s.style % 8))));
          break;
        }
        case 'runaway':
          // A length no frame could have (far past the limit): an error at once, then the decoder
          // seeks the next Content-Length (none follows here), never swallowing the stream.
          parts.push(Buffer.from(`Content-Length: ${'9'.repeat(12 + (s.style % 12))}\r\n\r\n{"id":1,`), Buffer.alloc(256 + s.extra, 0x7a));
          expected.push({ key: 'E:too-large', anyId: true });
          break;
        default:
          break;
      }
    }
  }
  return { bytes: Buffer.concat(parts), expected, counts };
}

/** What one complete line (or Content-Length body) must decode to: docs/protocol.md, "Transports and framing". */
function expectLine(line: Buffer): Expect[] {
  let end = line.length;
  if (end && line[end - 1] === CR) end--;
  let s = 0;
  while (s < end && (line[s] === 0x20 || line[s] === 0x09)) s++;
  if (s === end) return []; // empty lines are ignored
  const text = line.toString('utf8', s, end);
  try {
    return [{ key: `M${JSON.stringify(JSON.parse(text))}` }];
  } catch {
    return /^[ \t\r\n]*$/.test(text) ? [] : [{ key: 'E:parse' }]; // so are lines of whitespace only
  }
}

function keyOf(d: Decoded): string {
  if (d.kind === 'message') return `M${JSON.stringify(d.message)}`;
  if (d.error === 'too-large') return `E:too-large:${d.id === undefined ? '' : JSON.stringify(d.id)}`;
  return `E:${d.error}`;
}

const BATCH = 50;

/** Rebuilds the stream of a failure (`replay`) of the run with seed `runSeed`: its bytes, chunks and the oracle's expected outputs. */
export function replayDecoderStream(runSeed: number, replay: { seed: number; index: number }): { framing: Framing; maxFrameBytes: number; bytes: Buffer; chunks: Buffer[]; expected: string[] } {
  const pool = messagePool(runSeed);
  const spec = fc.sample(streamArbitrary(pool.length), { seed: replay.seed, numRuns: BATCH })[replay.index]!;
  const { bytes, expected } = buildStream(spec, pool);
  return { framing: spec.framing, maxFrameBytes: spec.max, bytes, chunks: split(bytes, spec.chunking), expected: expected.map((e) => (e.anyId ? `${e.key}:*` : e.key)) };
}

function split(bytes: Buffer, chunking: StreamSpec['chunking']): Buffer[] {
  const out: Buffer[] = [];
  if (chunking.kind === 'fixed') {
    // Tiny fixed chunks over a long stream would be all the run does: at most ~4000 pieces.
    const size = Math.max(chunking.size, Math.ceil(bytes.length / 4000));
    for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
    return out;
  }
  return cutAt(bytes, chunking.cuts);
}

/** `bytes` cut at the given offsets (each taken modulo its length + 1; repeats make no empty piece twice). */
export function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

function compare(expected: Expect[], got: Decoded[]): string | undefined {
  const n = Math.max(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = got[i];
    const gk = g ? keyOf(g) : undefined;
    if (!e || gk === undefined) return `output ${i}: expected ${e ? e.key.slice(0, 120) : '(nothing)'}, got ${gk?.slice(0, 120) ?? '(nothing)'} (${got.length} outputs, ${expected.length} expected)`;
    if (e.anyId ? !gk.startsWith(e.key) : gk !== e.key) return `output ${i}: expected ${e.key.slice(0, 120)}, got ${gk.slice(0, 120)}${g?.kind === 'error' ? ` (${g.detail.slice(0, 120)})` : ''}`;
  }
  return undefined;
}

/**
 * Fuzzes the wire decoder with about `frames` frames: streams of valid frames (NDJSON and
 * Content-Length, header variants), garbage, oversize frames (ids of every form), frames exactly at
 * and one byte past the limit, blank lines, truncated tails, endless frames; each stream decoded
 * whole, under a random chunking, and with framing detection, and checked against the oracle.
 * Then memory probes stream many times maxFrameBytes of adversarial shapes and check what the
 * decoder retains.
 */
export function fuzzDecoder(frames: number, options: DecoderFuzzOptions = {}): DecoderFuzzResult {
  const seed = options.seed ?? 20240601;
  const keep = options.samples ?? 5;
  const t0 = performance.now();
  const pool = messagePool(seed);
  const arbitrary = streamArbitrary(pool.length);
  const byKind = Object.fromEntries((['valid', 'blank', 'garbage', 'glued', 'oversize', 'boundary', 'empty', 'junk-headers', 'truncated', 'runaway'] as SegmentKind[]).map((k) => [k, 0])) as Record<SegmentKind, number>;
  const result: DecoderFuzzResult = {
    seed,
    frames: 0,
    byKind,
    streams: 0,
    bytes: 0,
    passes: 0,
    framesDecoded: 0,
    pushes: 0,
    failures: 0,
    failuresByKind: { throw: 0, reset: 0, mismatch: 0, memory: 0 },
    samples: [],
    ms: 0,
    fuzzMs: 0,
    framesPerSecond: 0,
    mbPerSecond: 0,
    memory: { probes: [], maxHeldBytes: 0, withinBound: true },
  };
  const kept = new Set<string>();
  const fail = (f: DecoderFailure) => {
    result.failures++;
    result.failuresByKind[f.kind]++;
    // One sample per kind of failure (the detail without its numbers and values), up to `keep`.
    const what = /expected (M|E:[a-z-]+|\(nothing\))(:?)[^]*got (M|E:[a-z-]+|\(nothing\))(:?)/.exec(f.detail);
    const sort = `${f.kind}:${f.framing}:${f.pass.split('(')[0]}:${what ? what.slice(1).join('') : f.detail.replace(/\d+/g, '#').slice(0, 40)}`;
    if (result.samples.length < keep && !kept.has(sort)) {
      kept.add(sort);
      result.samples.push(f);
    }
  };

  for (let batch = 0; result.frames < frames; batch++) {
    const batchSeed = seed + batch;
    const specs = fc.sample(arbitrary, { seed: batchSeed, numRuns: BATCH });
    for (let index = 0; index < specs.length && result.frames < frames; index++) {
      const spec = specs[index]!;
      const { bytes, expected, counts } = buildStream(spec, pool);
      let n = 0;
      for (const [k, c] of Object.entries(counts)) {
        byKind[k as SegmentKind] += c;
        n += c;
      }
      result.frames += n;
      result.streams++;
      result.bytes += bytes.length;
      const passes: { name: string; framing: Framing | undefined; chunks: Buffer[] }[] = [
        { name: 'whole', framing: spec.framing, chunks: [bytes] },
        { name: `chunked(${spec.chunking.kind})`, framing: spec.framing, chunks: split(bytes, spec.chunking) },
      ];
      // Framing detection from the first bytes, when they say it unambiguously. Whitespace before
      // them is dropped, blank lines included; not when it is on the first frame's own line (there
      // it would count against the limit without detection, so the oracle would not hold).
      const text = bytes.toString('latin1', 0, 64);
      const head = text.replace(/^[ \t\r\n]+/, '').slice(0, 15).toLowerCase();
      const lsp = head === 'content-length:';
      if ((spec.framing === 'content-length') === lsp && head.length === 15 && /^(?:[ \t\r\n]*\n)?[^ \t\r\n]/.test(text)) {
        passes.push({ name: 'detect+chunked', framing: undefined, chunks: passes[1]!.chunks });
      }
      for (const pass of passes) {
        result.passes++;
        const decoder = new FrameDecoder({ framing: pass.framing, maxFrameBytes: spec.max });
        const out: Decoded[] = [];
        let threw: unknown;
        for (const c of pass.chunks) {
          result.pushes++;
          try {
            out.push(...decoder.push(c));
          } catch (err) {
            threw = err;
            break;
          }
        }
        result.framesDecoded += n;
        const replay = { seed: batchSeed, index };
        const stream = JSON.stringify(bytes.toString('latin1', 0, 600)) + (bytes.length > 600 ? `… (${bytes.length} bytes)` : '');
        if (threw !== undefined) {
          fail({ kind: 'throw', replay, framing: spec.framing, pass: pass.name, detail: String((threw as Error)?.stack ?? threw).slice(0, 400), stream });
          continue;
        }
        const reset = out.find((d) => d.kind === 'error' && d.detail.startsWith('decoder reset'));
        if (reset && reset.kind === 'error') {
          fail({ kind: 'reset', replay, framing: spec.framing, pass: pass.name, detail: reset.detail, stream });
          continue;
        }
        const diff = compare(expected, out);
        if (diff) fail({ kind: 'mismatch', replay, framing: spec.framing, pass: pass.name, detail: diff, stream });
      }
    }
  }
  const fuzzMs = performance.now() - t0;
  result.fuzzMs = Math.round(fuzzMs);
  result.framesPerSecond = Math.round(result.frames / (fuzzMs / 1000));
  result.mbPerSecond = Math.round((result.bytes / MIB / (fuzzMs / 1000)) * 10) / 10;

  // Memory: streams of many times the limit, in fresh chunks, measured after full GCs.
  const probeFrames = options.probeFrames ?? (frames >= 100_000 ? 8 : 2);
  for (const shape of probeShapes(seed).slice(0, options.probes ?? Infinity)) {
    const probe = memoryProbe(shape, probeFrames);
    result.memory.probes.push(probe);
    result.memory.maxHeldBytes = Math.max(result.memory.maxHeldBytes, probe.maxHeldBytes);
    if (probe.maxHeldBytes > probe.boundBytes) {
      result.memory.withinBound = false;
      fail({ kind: 'memory', replay: { seed, index: -1 }, framing: shape.shape.startsWith('lsp') ? 'content-length' : 'ndjson', pass: shape.shape, detail: `${shape.shape}: held ${probe.maxHeldBytes} bytes > bound ${probe.boundBytes} (chunks of ${probe.chunkBytes} bytes, ${probe.streamedBytes} streamed)`, stream: '' });
    }
  }
  result.ms = Math.round(performance.now() - t0);
  return result;
}

type ProbeShape = {
  shape: 'ndjson-endless-line' | 'ndjson-oversize-lines' | 'ndjson-near-limit-lines' | 'lsp-huge-body' | 'lsp-endless-headers' | 'lsp-near-limit-bodies' | 'whitespace-before-detection';
  chunk: number;
};

/** Every shape once, each with a chunk size drawn from the seed; then the whitespace and tiny-chunk ones. */
function probeShapes(seed: number): ProbeShape[] {
  const shapes = ['ndjson-endless-line', 'ndjson-oversize-lines', 'ndjson-near-limit-lines', 'lsp-huge-body', 'lsp-endless-headers', 'lsp-near-limit-bodies'] as const;
  const chunks = fc.sample(fc.constantFrom(4096, 16384, 65536, 262144), { seed, numRuns: shapes.length });
  const out: ProbeShape[] = shapes.map((shape, i) => ({ shape, chunk: chunks[i]! }));
  // Whitespace before the framing is known (was kept whole); tiny chunks (were ~100 bytes of bookkeeping each).
  out.push({ shape: 'whitespace-before-detection', chunk: 65536 }, { shape: 'ndjson-near-limit-lines', chunk: 16 });
  return out;
}

/**
 * Streams a shape through a decoder (maxFrameBytes 1 MiB) in fresh chunks, each its own
 * ArrayBuffer as a socket read is, and measures what stays reachable between pushes: heap and
 * array buffers after a full GC, over the baseline taken with the decoder already built.
 */
export function memoryProbe({ shape, chunk }: ProbeShape, frames: number): MemoryProbe {
  const whitespace = shape === 'whitespace-before-detection';
  const max = whitespace ? 64 * 1024 : MIB;
  if (whitespace) chunk = Math.max(chunk, 4096);
  // Tiny chunks: one limit's worth (the bookkeeping per chunk, not the bytes, is what shows).
  const streamed = chunk < 1024 ? max : Math.max(whitespace ? 16 : 2, frames) * max;
  const framing: Framing | undefined = whitespace ? undefined : shape.startsWith('lsp') ? 'content-length' : 'ndjson';
  const line = (n: number) => `"${'x'.repeat(n - 2)}"`;
  // The stream is `head` then `unit` repeated.
  let head = Buffer.alloc(0);
  let unit: Buffer;
  switch (shape) {
    case 'ndjson-endless-line':
      unit = Buffer.alloc(MIB, 0x61);
      break;
    case 'ndjson-oversize-lines':
      unit = Buffer.from(`{"id":7,"p":${line(max + 100)}}\n`);
      break;
    case 'ndjson-near-limit-lines':
      unit = Buffer.from(`${line(max - 10)}\n`);
      break;
    case 'lsp-huge-body':
      head = Buffer.from(`Content-Length: ${streamed * 4}\r\n\r\n`);
      unit = Buffer.alloc(MIB, 0x63);
      break;
    case 'lsp-endless-headers':
      unit = Buffer.alloc(MIB, 0x48);
      break;
    case 'lsp-near-limit-bodies':
      unit = Buffer.from(`Content-Length: ${max - 16}\r\n\r\n${line(max - 16)}`);
      break;
    case 'whitespace-before-detection':
      unit = Buffer.alloc(MIB, 0x20);
      break;
  }
  const at = (offset: number): number => (offset < head.length ? head[offset]! : unit[(offset - head.length) % unit.length]!);
  const fresh = (offset: number): Buffer => {
    const b = Buffer.allocUnsafeSlow(chunk);
    if (offset >= head.length && chunk <= unit.length) {
      const u = (offset - head.length) % unit.length;
      const n = unit.copy(b, 0, u, Math.min(unit.length, u + chunk));
      if (n < chunk) unit.copy(b, n, 0, chunk - n);
    } else {
      for (let i = 0; i < chunk; i++) b[i] = at(offset + i);
    }
    return b;
  };
  const decoder = new FrameDecoder({ framing, maxFrameBytes: max });
  forceGc();
  const base = process.memoryUsage();
  const baseline = base.heapUsed + base.arrayBuffers;
  let maxHeld = 0;
  // Measured twice per limit's worth of stream (a full GC each time: that is most of the cost).
  const every = Math.max(chunk, max >> 1);
  let next = every;
  for (let sent = 0; sent < streamed; sent += chunk) {
    decoder.push(fresh(sent));
    if (sent + chunk >= next || sent + chunk >= streamed) {
      next += every;
      forceGc();
      const m = process.memoryUsage();
      maxHeld = Math.max(maxHeld, m.heapUsed + m.arrayBuffers - baseline);
    }
  }
  // The decoder stays reachable up to the last measurement.
  void decoder.framing;
  return { shape, chunkBytes: chunk, streamedBytes: streamed, maxHeldBytes: Math.max(0, Math.round(maxHeld)), boundBytes: max + 2 * chunk + 512 * 1024 };
}

// ==== config files and extension manifests ==========================================================

export interface InputFuzzOptions {
  seed?: number;
  /** Per-case watchdog (default 10 s). */
  timeoutMs?: number;
  /** Run the cases in a worker thread the watchdog can terminate (default true). */
  isolate?: boolean;
  /** Failures kept in `samples` (default 5). */
  samples?: number;
  /** Called before each case (progress, tracing a case that kills the process). */
  onCase?: (run: number, input: string) => void;
}

export interface InputFailure {
  run: number;
  failure: string;
  /** The input, JSON-escaped and shortened. */
  input: string;
}

export interface InputFuzzResult {
  seed: number;
  runs: number;
  /** How the cases ended: `system` / `config-error` (configs), `manifest` / `problems` (manifests). */
  outcomes: Record<string, number>;
  /** Loaded (a system, a manifest) and refused (a ConfigError, problems), as they should be. */
  accepted: number;
  rejected: number;
  /** Diagnostics (or problems) checked: file, line >= 1, col >= 1, message. */
  diagnostics: number;
  /** Of those, positions past the end of the text (reported, not failed: an end-of-file position is legitimate). */
  pastEnd: number;
  failures: number;
  hangs: number;
  /** The worker died (out of memory, a native crash). */
  crashes: number;
  samples: InputFailure[];
  ms: number;
  perSecond: number;
  slowestMs: number;
  slowestInput: string;
}

/** `arb` one time in `n`, else `nil` (fc.option's freq is the other way round: nil one time in freq). */
const sometimes = <T, N>(arb: fc.Arbitrary<T>, n: number, nil: N): fc.Arbitrary<T | N> => fc.oneof({ arbitrary: arb, weight: 1 }, { arbitrary: fc.constant(nil), weight: n - 1 });

const short = (s: string, n = 400) => JSON.stringify(s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

// ---- generators -------------------------------------------------------------------------------------

/** Scalars and small structures no schema expects. */
const weirdScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, 1e21, -0, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, Number.NaN, 2n ** 70n),
  fc.string({ unit: codePoint, maxLength: 16 }),
  fc.constantFrom('', ' ', '\u0000', '\ufeff', '\u202e', '\u2028', '🎻', 'y', 'no', 'null', '~', '0x1F', '1_000', '.inf', '2001-12-14', '<<', '*a', '&a', '!!str', '%', '@', '`', 'x'.repeat(5000)),
  fc.boolean(),
  fc.constant(null),
  fc.integer(),
  fc.double(),
);
const weird: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: weirdScalar, weight: 4 },
  { arbitrary: fc.array(weirdScalar, { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), weirdScalar, { maxKeys: 3 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);
/** Mostly `valid`, sometimes anything. */
const or = <T>(valid: fc.Arbitrary<T>, weight = 5): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: valid as fc.Arbitrary<unknown>, weight }, { arbitrary: weird, weight: 1 });
/** Adds a random key now and then (unknown keys, __proto__, unicode). */
const withExtra = (arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> =>
  fc.tuple(arb, sometimes(fc.tuple(fc.oneof(fc.string({ unit: codePoint, maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'needz', 'Use', '')), weird), 6, null)).map(([o, extra]) => {
    if (!extra) return o;
    const out: Record<string, unknown> = { ...o };
    Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
    return out;
  });

const NAMES = ['bus', 'a', 'b', 'c', 'db', 'api'];
const duration = fc.oneof(fc.constantFrom('5s', '250ms', '2m', '1h', '10', '0ms', '1.5s', '-5s', '5 parsecs', 'ms', '1e400s', ''), fc.nat({ max: 100_000 }), fc.integer({ min: -5, max: -1 }), fc.double());
const names = fc.array(fc.oneof({ arbitrary: fc.constantFrom(...NAMES), weight: 5 }, { arbitrary: fc.string({ maxLength: 5 }), weight: 1 }), { maxLength: 3 });
const use = fc.constantFrom('builtin:bus', 'builtin:bus', 'builtin:pit', 'builtin:nope', 'builtin:', './noop.mjs', './noop.mjs', './missing.mjs', '../noop.mjs', './', '/etc/hostname', 'yaml', 'semver', 'no-such-package-xyz', '@scope/none', './noop.mjs#named', '#', 'noop.mjs');
const component = withExtra(
  fc.record(
    {
      use: or(use, 20),
      command: or(fc.array(fc.constantFrom('python3', '-m', 'peer', ''), { minLength: 0, maxLength: 3 }), 1),
      needs: or(names),
      wants: or(names),
      late: or(names),
      mode: or(fc.constantFrom('in-process', 'worker', 'process', 'thread')),
      optional: or(fc.boolean()),
      timeout: or(duration),
      stopTimeout: or(duration),
      retries: or(fc.integer({ min: -2, max: 5 })),
      backoff: or(fc.record({ initial: duration, max: duration }, { requiredKeys: [] })),
      health: or(fc.record({ timeout: duration, interval: duration, threshold: fc.integer({ min: -1, max: 5 }) }, { requiredKeys: [] })),
      restart: or(fc.record({ strategy: fc.constantFrom('one_for_one', 'rest_for_one', 'never', 'always'), max: fc.integer({ min: -1, max: 5 }), within: duration }, { requiredKeys: [] })),
      stage: or(fc.oneof(fc.nat({ max: 3 }), fc.constantFrom('boot', 'late', 'nope'))),
      with: weird,
    },
    { requiredKeys: [] },
  ),
);
/** A component that passes the schema on its own (so some whole configs load). */
const plainComponent = fc.record({ use: fc.constantFrom('builtin:bus', './noop.mjs', 'builtin:pit'), needs: fc.array(fc.constantFrom(...NAMES), { maxLength: 2 }) }, { requiredKeys: ['use'] });
const components = fc.dictionary(fc.oneof({ arbitrary: fc.constantFrom(...NAMES), weight: 6 }, { arbitrary: fc.string({ unit: codePoint, maxLength: 6 }), weight: 1 }), fc.oneof(plainComponent, component), { maxKeys: 5 });
const stages = fc.array(fc.constantFrom('boot', 'late', 'main', ''), { maxLength: 3 });
const http = fc.record({ listen: or(fc.constantFrom('127.0.0.1:0', ':8080', 'nope', '[::1]:0')) });
/** A config that should load: plain components whose needs name components that exist (cycles aside). */
const validConfig = fc
  .record({ components: fc.dictionary(fc.constantFrom(...NAMES), plainComponent, { minKeys: 1, maxKeys: 4 }), http: sometimes(fc.constant({ listen: '127.0.0.1:0' }), 3, undefined) }, { requiredKeys: ['components'] })
  .map(({ components: cs, http: h }) => {
    const out: Record<string, unknown> = { components: Object.fromEntries(Object.entries(cs).map(([n, c]) => [n, { ...c, ...(c.needs ? { needs: c.needs.filter((d) => d !== n && d in cs) } : {}) }])) };
    if (h) out.http = h;
    return out;
  });
const configValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: validConfig },
  {
    weight: 20,
    arbitrary: withExtra(
      fc.record(
        {
          $schema: or(fc.constant('../schema/symphony.schema.json')),
          components: or(components, 12),
          stages: or(stages),
          http: or(http),
          profiles: or(fc.dictionary(fc.constantFrom('dev', 'test', 'bare', 'x.y', ''), withExtra(fc.record({ components: or(components), stages: or(stages), http: or(http) }, { requiredKeys: [] })), { maxKeys: 2 })),
        },
        { requiredKeys: ['components'] },
      ),
    ),
  },
  // Not a table at all.
  { weight: 1, arbitrary: weird },
);

/** A TOML text for a value: tables as [sections] or inline, keys bare or quoted (JSON string escapes are TOML's). */
function toToml(value: unknown, style: number): string {
  const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
  // `__proto__` keys included: the loader must refuse them, not let them into Object.prototype.
  const entries = (o: object) => Object.entries(o);
  const scalar = (v: unknown): string => {
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : Number.isInteger(v) && Math.abs(v) < 1e21 ? String(v) : String(v).includes('e') || String(v).includes('.') ? String(v) : `${v}.0`;
    if (typeof v === 'bigint') return String(v);
    if (typeof v === 'boolean') return String(v);
    if (v === null || v === undefined) return '""'; // TOML has no null
    if (Array.isArray(v)) return `[${v.map(scalar).join(', ')}]`;
    return `{ ${entries(v as object).map(([k, x]) => `${key(k)} = ${scalar(x)}`).join(', ')} }`;
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `value = ${scalar(value)}\n`;
  const lines: string[] = [];
  const tables: [string[], Record<string, unknown>][] = [];
  const walk = (path: string[], obj: Record<string, unknown>, depth: number) => {
    const here: string[] = [];
    for (const [k, v] of entries(obj)) {
      // Sections for nested tables (some of the time), inline otherwise.
      if (v && typeof v === 'object' && !Array.isArray(v) && (style + depth) % 3 !== 0) tables.push([[...path, k], v as Record<string, unknown>]);
      else here.push(`${key(k)} = ${scalar(v)}`);
    }
    return here;
  };
  lines.push(...walk([], value as Record<string, unknown>, 0));
  for (let i = 0; i < tables.length; i++) {
    const [path, obj] = tables[i]!;
    const body = walk(path, obj, path.length);
    lines.push('', `[${path.map(key).join('.')}]`, ...body);
  }
  return `${lines.join('\n')}\n`;
}

/** A billion-laughs document: `depth` levels of `fanout` aliases each. */
function laughs(depth: number, fanout: number): string {
  const out = ['components:', '  bus:', '    use: builtin:bus', '    with:', '      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let d = 1; d <= depth; d++) out.push(`      l${d}: &l${d} [${Array.from({ length: fanout }, () => `*l${d - 1}`).join(', ')}]`);
  return `${out.join('\n')}\n`;
}

const YAML_TOKENS = [': ', '- ', '{', '}', '[', ']', ',', '&a ', '*a', '*nope', '!!str ', '!!binary ', '!!set ', '!custom ', '? ', '|', '>', "'", '"', '#', '%YAML 1.1\n---\n', '---\n', '...\n', '<<: ', '\t', '@', '`', '\\', '\n  ', '\n', ' ', '::', 'null', '~', '.inf', '0o17', '1e400', '99999999999999999999999', '\ufeff', '\u0000', '\u202e', '🎻', '\ud800'];
const TOML_TOKENS = ['=', '[', ']', '[[', ']]', '{', '}', '"', "'", '"""', "'''", '.', ',', '#', 'inf', 'nan', '1979-05-27T07:32:00Z', '0x', '0o', '0b', '_', '+', '\n', ' ', '\\', '99999999999999999999999', '1e400', '\ufeff', '\u0000', '\ud800', 'true', '[components]\n', '[components.a]\n', 'use = "builtin:bus"\n'];
const JSON_TOKENS = [',', '}', ']', '{', '[', '"', ':', '// c\n', '/* c */', "'", 'NaN', 'Infinity', 'undefined', '\ufeff', '\u0000', '\ud800', '1e400', '123456789012345678901234567890', '-', '\\', '\\u12', 'null', ' ', '\n', '"__proto__": {"polluted": 1}, '];

interface Mutation {
  op: number;
  at: number;
  len: number;
  token: number;
}
const mutations = fc.array(fc.record({ op: fc.nat({ max: 5 }), at: fc.nat(), len: fc.nat({ max: 40 }), token: fc.nat() }), { maxLength: 3 });

/** Text-level damage: deletions, inserted syntax, duplicated or swapped lines, truncation. */
function mutate(text: string, ms: Mutation[], tokens: string[]): string {
  for (const m of ms) {
    const at = text.length ? m.at % (text.length + 1) : 0;
    const token = tokens[m.token % tokens.length]!;
    const lines = text.split('\n');
    const li = lines.length ? m.at % lines.length : 0;
    switch (m.op) {
      case 0:
        text = text.slice(0, at) + text.slice(at + 1 + (m.len % 8));
        break;
      case 1:
        text = text.slice(0, at) + token + text.slice(at);
        break;
      case 2:
        lines.splice(li, 0, lines[li] ?? '');
        text = lines.join('\n');
        break;
      case 3: {
        const lj = (li + 1 + m.len) % Math.max(1, lines.length);
        [lines[li], lines[lj]] = [lines[lj] ?? '', lines[li] ?? ''];
        text = lines.join('\n');
        break;
      }
      case 4:
        text = text.slice(0, at);
        break;
      default:
        // Indentation changes (YAML's structure).
        lines[li] = m.len % 2 ? `  ${lines[li] ?? ''}` : (lines[li] ?? '').replace(/^\s{1,2}/, '');
        text = lines.join('\n');
        break;
    }
  }
  return text;
}

export interface ConfigCase {
  file: string;
  text: string;
  profile?: string;
}

function configCases(seed: number, dir: string): fc.Arbitrary<ConfigCase> {
  const yamlText = fc.record({ value: configValue, indent: fc.constantFrom(2, 4), flow: fc.constantFrom('any', 'block', 'flow'), quote: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'), shared: fc.boolean() });
  return fc
    .record({
      format: fc.constantFrom('yaml', 'yaml', 'yml', 'toml', 'toml'),
      yaml: yamlText,
      tomlStyle: fc.nat({ max: 5 }),
      special: sometimes(fc.oneof(fc.tuple(fc.constant('laughs' as const), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 10 })), fc.tuple(fc.constant('nest' as const), fc.integer({ min: 10, max: 20_000 }), fc.constant(0))), 25, null),
      mutations: sometimes(mutations, 2, undefined),
      profile: sometimes(fc.constantFrom('dev', 'test', 'bare', 'nope', ''), 4, undefined),
      n: fc.nat(),
    })
    .map(({ format, yaml, tomlStyle, special, mutations: ms, profile, n }) => {
      const file = join(dir, `fuzz-${seed}-${n % 1000}.${format}`);
      let text: string;
      if (special?.[0] === 'laughs') text = laughs(special[1], special[2]);
      else if (special?.[0] === 'nest') text = format === 'toml' ? `components = ${'['.repeat(special[1])}${']'.repeat(special[1])}\n` : `components: ${'['.repeat(special[1])}${']'.repeat(special[1])}\n`;
      else if (format === 'toml') text = toToml(yaml.value, tomlStyle);
      else {
        let value = yaml.value;
        // The same object twice: YAML writes an anchor and an alias.
        if (yaml.shared && value && typeof value === 'object' && 'components' in value) {
          const c = (value as { components: unknown }).components;
          if (c && typeof c === 'object' && !Array.isArray(c)) {
            const entries = Object.entries(c);
            if (entries.length >= 1) value = { ...value, components: { ...c, [`${entries[0]![0]}2`]: entries[0]![1] } };
          }
        }
        text = yamlStringify(value, { indent: yaml.indent, collectionStyle: yaml.flow, defaultStringType: yaml.quote });
      }
      if (ms) text = mutate(text, ms, format === 'toml' ? TOML_TOKENS : YAML_TOKENS);
      return profile === undefined ? { file, text } : { file, text, profile };
    });
}

// ---- the checks (run in the worker, or in process) ----------------------------------------------------

export interface CaseReport {
  run: number;
  outcome: string;
  failure?: string;
  diagnostics: number;
  pastEnd: number;
  ms: number;
}

/** A position is sound when it is a whole number >= 1; `pastEnd` counts those beyond the text. */
function checkPosition(text: string | undefined, d: { file?: unknown; line?: unknown; col?: unknown; message?: unknown }, what: string): { bad?: string; pastEnd: boolean } {
  if (typeof d.file !== 'string' || !d.file) return { bad: `${what} without a file: ${JSON.stringify(d)}`, pastEnd: false };
  if (typeof d.line !== 'number' || !Number.isInteger(d.line) || d.line < 1) return { bad: `${what} with line ${String(d.line)}: ${JSON.stringify(d).slice(0, 300)}`, pastEnd: false };
  if (typeof d.col !== 'number' || !Number.isInteger(d.col) || d.col < 1) return { bad: `${what} with col ${String(d.col)}: ${JSON.stringify(d).slice(0, 300)}`, pastEnd: false };
  if (typeof d.message !== 'string' || !d.message.trim()) return { bad: `${what} without a message: ${JSON.stringify(d).slice(0, 300)}`, pastEnd: false };
  if (text === undefined) return { pastEnd: false };
  const lines = text.split(/\r\n|\r|\n/);
  const line = lines[d.line - 1];
  return { pastEnd: line === undefined ? d.line > lines.length + 1 : d.col > line.length + 2 };
}

const PROTO_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));
/** Reports (and undoes) properties added to Object.prototype, so one polluting case does not fail all the next ones. */
function prototypePollution(): string | undefined {
  const added = Object.getOwnPropertyNames(Object.prototype).filter((k) => !PROTO_KEYS.has(k));
  if (!added.length) return undefined;
  const what = added.map((k) => `${k}=${JSON.stringify((Object.prototype as Record<string, unknown>)[k])?.slice(0, 40)}`).join(', ');
  for (const k of added) delete (Object.prototype as Record<string, unknown>)[k];
  return `Object.prototype polluted: ${what}`;
}

export async function configCase(run: number, c: ConfigCase): Promise<CaseReport> {
  const t0 = performance.now();
  const report: CaseReport = { run, outcome: '', diagnostics: 0, pastEnd: 0, ms: 0 };
  const bad = (why: string) => (report.failure ??= why);
  try {
    const system = await loadSystemText(c.file, c.text, c.profile === undefined ? {} : { profile: c.profile });
    report.outcome = 'system';
    if (!system || typeof system.components !== 'object' || system.components === null) bad('returned a system without components');
    for (const w of system.warnings) {
      report.diagnostics++;
      const p = checkPosition(c.text, w, 'warning');
      if (p.bad) bad(p.bad);
      if (p.pastEnd) report.pastEnd++;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      report.outcome = 'other-exception';
      bad(`threw ${(err as Error)?.name ?? typeof err} (not a ConfigError): ${String((err as Error)?.stack ?? err).split('\n').slice(0, 4).join(' | ')}`);
    } else {
      report.outcome = 'config-error';
      if (!err.diagnostics.length) bad('ConfigError without diagnostics');
      for (const d of err.diagnostics) {
        report.diagnostics++;
        const p = checkPosition(c.text, d, 'diagnostic');
        if (p.bad) bad(p.bad);
        if (p.pastEnd) report.pastEnd++;
      }
    }
  }
  const polluted = prototypePollution();
  if (polluted) report.failure = polluted; // the root cause of whatever else went wrong
  report.ms = performance.now() - t0;
  return report;
}

export interface ManifestCase {
  root: string;
  /** package.json as text, or base64 bytes (invalid UTF-8). */
  text?: string;
  base64?: string;
  layout: { index: boolean; outside: boolean; symlinkOut: boolean; packageDir: boolean };
}

export async function manifestCase(run: number, c: ManifestCase): Promise<CaseReport> {
  const t0 = performance.now();
  const report: CaseReport = { run, outcome: '', diagnostics: 0, pastEnd: 0, ms: 0 };
  const bad = (why: string) => (report.failure ??= why);
  const dir = join(c.root, `ext-${run}`);
  await mkdir(dir, { recursive: true });
  try {
    if (c.layout.packageDir) await mkdir(join(dir, 'package.json'));
    else if (c.text !== undefined || c.base64 !== undefined) await writeFile(join(dir, 'package.json'), c.base64 !== undefined ? Buffer.from(c.base64, 'base64') : c.text!);
    if (c.layout.index) await writeFile(join(dir, 'index.js'), 'export default {};\n');
    if (c.layout.outside) await writeFile(join(c.root, 'outside.js'), 'export default {};\n');
    if (c.layout.symlinkOut) await symlink('/etc/hostname', join(dir, 'link.js')).catch(() => {});
    let result: Awaited<ReturnType<typeof readManifest>>;
    try {
      result = await readManifest(dir);
    } catch (err) {
      report.outcome = 'threw';
      bad(`readManifest threw ${String((err as Error)?.stack ?? err).split('\n').slice(0, 4).join(' | ')}`);
      return report;
    }
    report.outcome = result.manifest ? 'manifest' : 'problems';
    if (!Array.isArray(result.problems)) bad('problems is not an array');
    if (result.manifest && result.problems.length) bad(`a manifest and ${result.problems.length} problem(s)`);
    if (!result.manifest && !result.problems.length) bad('neither a manifest nor a problem');
    for (const p of result.problems) {
      report.diagnostics++;
      const pos = checkPosition(c.text, p, 'problem');
      if (pos.bad) bad(pos.bad);
      if (pos.pastEnd) report.pastEnd++;
      if (typeof p.extension !== 'string') bad(`problem without an extension name: ${JSON.stringify(p).slice(0, 200)}`);
    }
    if (result.manifest) {
      const m = result.manifest;
      if (typeof m.name !== 'string' || typeof m.version !== 'string' || !Array.isArray(m.provides) || !Array.isArray(m.activation)) bad(`malformed manifest: ${JSON.stringify(m).slice(0, 300)}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    const polluted = prototypePollution();
    if (polluted) report.failure = polluted;
    report.ms = performance.now() - t0;
  }
  return report;
}

/** Entry for the worker thread: one case per message. */
export async function runCase(msg: { run: number; kind: 'config' | 'manifest'; payload: unknown }): Promise<CaseReport> {
  return msg.kind === 'config' ? configCase(msg.run, msg.payload as ConfigCase) : manifestCase(msg.run, msg.payload as ManifestCase);
}

// ---- the runner: a worker thread and a watchdog ----------------------------------------------------------

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import(workerData.tsx);
  register();
  const fuzz = await import(workerData.module);
  parentPort.on('message', (msg) => {
    fuzz.runCase(msg).then(
      (report) => parentPort.postMessage(report),
      (err) => parentPort.postMessage({ run: msg.run, outcome: 'runner-error', failure: String((err && err.stack) || err), diagnostics: 0, pastEnd: 0, ms: 0 }),
    );
  });
  parentPort.postMessage({ ready: true });
})().catch((err) => parentPort.postMessage({ fatal: String((err && err.stack) || err) }));
`;

/** tsx's ESM API (its CommonJS build cannot register the hooks), as a URL the worker can import wherever it runs. */
function tsxApi(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('tsx/package.json');
  const exports = (require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(join(dirname(pkg), exports['./esm/api']!.import.default)).href;
}

class CaseRunner {
  #worker: Worker | undefined;
  #waiting: ((r: CaseReport | { dead: string }) => void) | undefined;
  constructor(readonly isolate: boolean) {}

  async #start(): Promise<Worker> {
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { tsx: tsxApi(), module: import.meta.url },
      // A case that balloons is a finding, not the end of the run. The stack is the main thread's
      // (~1 MB, where the kernel loads configs): a deeper one lets parsers recurse further, slower.
      resourceLimits: { maxOldGenerationSizeMb: 768, stackSizeMb: 1 },
      stdout: true,
      stderr: true,
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { ready?: boolean; fatal?: string }) => (m.ready ? resolve() : reject(new Error(`fuzz worker failed to start: ${m.fatal}`))));
      worker.once('error', reject);
    });
    worker.on('message', (m: CaseReport) => this.#waiting?.(m));
    worker.on('error', (err) => this.#waiting?.({ dead: `worker error: ${err.message}` }));
    worker.on('exit', (code) => this.#waiting?.({ dead: `worker exited with code ${code}` }));
    return worker;
  }

  async run(run: number, kind: 'config' | 'manifest', payload: unknown, timeoutMs: number): Promise<CaseReport | { hang: true } | { dead: string }> {
    if (!this.isolate) {
      let timer: NodeJS.Timeout | undefined;
      const out = await Promise.race([runCase({ run, kind, payload }), new Promise<{ hang: true }>((r) => (timer = setTimeout(() => r({ hang: true }), timeoutMs)))]);
      clearTimeout(timer);
      return out;
    }
    this.#worker ??= await this.#start();
    const worker = this.#worker;
    let timer: NodeJS.Timeout | undefined;
    const out = await new Promise<CaseReport | { hang: true } | { dead: string }>((resolve) => {
      this.#waiting = resolve;
      timer = setTimeout(() => resolve({ hang: true }), timeoutMs);
      worker.postMessage({ run, kind, payload });
    });
    clearTimeout(timer);
    this.#waiting = undefined;
    if (!('outcome' in out)) {
      // Hung or dead: a fresh worker for the next case.
      this.#worker = undefined;
      await worker.terminate().catch(() => {});
    }
    return out;
  }

  async close(): Promise<void> {
    this.#waiting = undefined;
    await this.#worker?.terminate();
    this.#worker = undefined;
  }
}

async function fuzzInputs<T>(kind: 'config' | 'manifest', runs: number, options: InputFuzzOptions, cases: (seed: number, batch: number) => T[], describe: (c: T) => string): Promise<InputFuzzResult> {
  const seed = options.seed ?? 20240601;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const keep = options.samples ?? 5;
  const t0 = performance.now();
  const result: InputFuzzResult = { seed, runs: 0, outcomes: {}, accepted: 0, rejected: 0, diagnostics: 0, pastEnd: 0, failures: 0, hangs: 0, crashes: 0, samples: [], ms: 0, perSecond: 0, slowestMs: 0, slowestInput: '' };
  const runner = new CaseRunner(options.isolate ?? true);
  const sorts = new Set<string>();
  try {
    for (let batch = 0; result.runs < runs; batch++) {
      for (const c of cases(seed + batch, batch)) {
        if (result.runs >= runs) break;
        const run = result.runs++;
        options.onCase?.(run, describe(c));
        const out = await runner.run(run, kind, c, timeoutMs);
        let failure: string | undefined;
        if ('hang' in out) {
          result.hangs++;
          result.outcomes.hang = (result.outcomes.hang ?? 0) + 1;
          failure = `no answer within ${timeoutMs}ms (hang)`;
        } else if ('dead' in out) {
          result.crashes++;
          result.outcomes.crash = (result.outcomes.crash ?? 0) + 1;
          failure = out.dead;
        } else {
          result.outcomes[out.outcome] = (result.outcomes[out.outcome] ?? 0) + 1;
          result.diagnostics += out.diagnostics;
          result.pastEnd += out.pastEnd;
          failure = out.failure;
          if (out.ms > result.slowestMs) {
            result.slowestMs = Math.round(out.ms);
            result.slowestInput = describe(c).slice(0, 300);
          }
        }
        if (failure !== undefined) {
          result.failures++;
          // One sample per kind of failure (its wording up to the first colon or number), up to `keep`.
          const sort = failure.replace(/\d+/g, '#').split(':')[0]!.slice(0, 50);
          if (result.samples.length < keep && !sorts.has(sort)) {
            sorts.add(sort);
            result.samples.push({ run, failure: failure.slice(0, 600), input: describe(c) });
          }
        }
      }
    }
  } finally {
    await runner.close();
  }
  result.accepted = (result.outcomes.system ?? 0) + (result.outcomes.manifest ?? 0);
  result.rejected = (result.outcomes['config-error'] ?? 0) + (result.outcomes.problems ?? 0);
  result.ms = Math.round(performance.now() - t0);
  result.perSecond = Math.round(result.runs / (result.ms / 1000));
  return result;
}

/**
 * Fuzzes the config loader with `runs` texts: generated configs (valid ones, and ones with random
 * keys, types, nesting, unicode, huge numbers), written as YAML (block and flow, anchors and
 * aliases, billion laughs) or TOML (sections and inline tables), then often damaged at the text
 * level. Each must give a system or a ConfigError whose diagnostics all have a file, line >= 1,
 * col >= 1 and a message; anything else, or no answer within the timeout, is a failure.
 */
export async function fuzzConfig(runs: number, options: InputFuzzOptions = {}): Promise<InputFuzzResult> {
  const dir = await mkdtemp(join(tmpdir(), 'symphony-fuzz-config-'));
  await writeFile(join(dir, 'noop.mjs'), 'export default { start() { return {}; } };\n');
  try {
    return await fuzzInputs('config', runs, options, (seed) => fc.sample(configCases(seed, dir), { seed, numRuns: 100 }), (c: ConfigCase) => `${c.file.split('/').at(-1)}${c.profile !== undefined ? ` --profile ${c.profile}` : ''}: ${short(c.text)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- manifests ------------------------------------------------------------------------------------------

const pattern = fc.oneof({ arbitrary: fc.constantFrom('text.stats', 'text.*', 'text.>', '>', '*', 'a..b', '.a', 'a.', 'a.>.b', 'a b', 'symphony.x', '$/x', ''), weight: 4 }, { arbitrary: fc.string({ maxLength: 8 }), weight: 1 });
const range = fc.constantFrom('^1.2.0', '>=1 <2', '*', '', 'x', '~0.1', 'latest', '1.2.3 - 2.3.4', '>=1.0.0 || <0.5.0', 'not a range', `^${'9'.repeat(30)}.0.0`, `${'>=1 '.repeat(200)}`);
const manifestValue = withExtra(
  fc.record(
    {
      name: or(fc.oneof(fc.constantFrom('text-stats', 'ext', 'a.b_c-d', 'Bad', '-x', '', 'x'.repeat(300)), fc.string({ unit: codePoint, maxLength: 10 })), 8),
      version: or(fc.constantFrom('1.0.0', '0.1.0', '1.2.3-beta.1', '1.0', 'v1.0.0', '01.0.0', '1.0.0+build', '', 'latest', '^1.0.0', '99999999999999999999.0.0'), 8),
      main: or(fc.constantFrom('index.js', './index.js', 'missing.js', '../outside.js', '/etc/hostname', 'link.js', '', '.', 'dir/', 'a\u0000b')),
      type: or(fc.constant('module')),
      description: fc.string({ unit: codePoint, maxLength: 20 }),
      symphony: or(
        withExtra(
          fc.record(
            {
              kind: or(fc.constantFrom('instrument', 'operator', 'motif', 'plugin')),
              execution: or(fc.constantFrom('in-process', 'isolated', 'remote')),
              provides: or(fc.array(pattern, { maxLength: 3 })),
              calls: or(fc.array(pattern, { maxLength: 3 })),
              publishes: or(fc.array(pattern, { maxLength: 2 })),
              subscribes: or(fc.array(pattern, { maxLength: 2 })),
              permissions: or(
                withExtra(
                  fc.record(
                    { fsRead: or(fc.array(fc.constantFrom('.', './data', '/etc', '../..', ''), { maxLength: 2 })), fsWrite: or(fc.array(fc.constantFrom('./scratch', '/tmp', ''), { maxLength: 2 })), net: or(fc.boolean()), childProcess: or(fc.boolean()), workers: or(fc.boolean()) },
                    { requiredKeys: [] },
                  ),
                ),
              ),
              activation: or(fc.array(fc.constantFrom('onStartup', 'onCall', 'onEvent'), { maxLength: 3 })),
              dependencies: or(fc.dictionary(fc.constantFrom('text-stats', 'files', 'x', '__proto__'), range, { maxKeys: 2 })),
              limits: or(withExtra(fc.record({ memoryMb: or(fc.oneof(fc.integer({ min: -1, max: 4096 }), fc.constantFrom(15.5, 16, 1e300))), activationMs: or(fc.integer({ min: -1, max: 100_000 })) }, { requiredKeys: [] }))),
              engine: or(range),
            },
            { requiredKeys: [] },
          ),
        ),
        8,
      ),
    },
    { requiredKeys: [] },
  ),
);

/** A manifest that should be accepted (in a folder with its index.js). */
const validManifest = fc.record(
  {
    name: fc.constantFrom('text-stats', 'ext', 'a.b_c-d', 'x1'),
    version: fc.constantFrom('1.0.0', '0.1.0', '2.3.4-beta.1'),
    main: fc.constantFrom('index.js', './index.js'),
    type: fc.constant('module'),
    symphony: fc.record(
      {
        kind: fc.constantFrom('instrument', 'operator', 'motif'),
        execution: fc.constantFrom('in-process', 'isolated'),
        provides: fc.array(fc.constantFrom('text.stats', 'text.*', 'a.>'), { maxLength: 2 }),
        calls: fc.array(fc.constantFrom('files.read', 'text.>'), { maxLength: 2 }),
        publishes: fc.array(fc.constantFrom('text.done', 'x.*'), { maxLength: 1 }),
        subscribes: fc.array(fc.constantFrom('files.>'), { maxLength: 1 }),
        permissions: fc.record({ net: fc.boolean(), fsRead: fc.array(fc.constantFrom('.', './data', '/tmp'), { maxLength: 2 }) }, { requiredKeys: [] }),
        activation: fc.constant(['onStartup']),
        dependencies: fc.dictionary(fc.constantFrom('files', 'text-stats'), fc.constantFrom('^1.0.0', '*', '>=0.1 <2'), { maxKeys: 1 }),
        limits: fc.record({ memoryMb: fc.integer({ min: 16, max: 512 }), activationMs: fc.integer({ min: 1, max: 60_000 }) }, { requiredKeys: [] }),
        engine: fc.constantFrom('^0.1.0', '*'),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['name', 'version', 'symphony'] },
);

function manifestCases(root: string): fc.Arbitrary<ManifestCase> {
  return fc
    .record({
      value: fc.oneof({ weight: 1, arbitrary: validManifest.map((v) => ({ valid: true, v })) }, { weight: 3, arbitrary: manifestValue.map((v) => ({ valid: false, v })) }),
      indent: fc.constantFrom(0, 1, 2, '\t'),
      mutations: sometimes(mutations, 2, undefined),
      special: sometimes(fc.oneof(fc.integer({ min: 10, max: 20_000 }).map((n) => ({ nest: n })), fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ bytes }))), 20, undefined),
      layout: fc.record({ index: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }), outside: fc.boolean(), symlinkOut: fc.boolean(), packageDir: fc.oneof({ arbitrary: fc.constant(false), weight: 30 }, { arbitrary: fc.constant(true), weight: 1 }) }),
    })
    .map(({ value: { valid, v: value }, indent, mutations: ms, special, layout }): ManifestCase => {
      if (valid) layout = { ...layout, index: true, packageDir: false };
      let text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), indent) ?? 'undefined';
      if (special && 'nest' in special) text = `{"name":"deep","version":"1.0.0","symphony":{"provides":${'['.repeat(special.nest)}${']'.repeat(special.nest)}}}`;
      if (ms) text = mutate(text, ms, JSON_TOKENS);
      if (special && 'bytes' in special) {
        // Bytes that are not UTF-8, spliced into the text.
        const b = Buffer.from(text);
        const at = b.length ? special.bytes[0]! % b.length : 0;
        return { root, base64: Buffer.concat([b.subarray(0, at), Buffer.from(special.bytes), b.subarray(at)]).toString('base64'), layout };
      }
      return { root, text, layout };
    });
}

/**
 * Fuzzes readManifest with `runs` extension folders: package.json files generated from the
 * manifest's fields (and random ones), serialized as JSON, often damaged (comments, trailing
 * commas, bad escapes, BOM, NUL, huge numbers, deep nesting, bytes that are not UTF-8), in folders
 * where main exists, is missing, or leads outside (a path or a symlink). Each must give problems
 * (each with file, line >= 1, col >= 1, message) or a manifest, never both, and never throw.
 */
export async function fuzzManifests(runs: number, options: InputFuzzOptions = {}): Promise<InputFuzzResult> {
  const root = await mkdtemp(join(tmpdir(), 'symphony-fuzz-manifest-'));
  try {
    return await fuzzInputs('manifest', runs, options, (seed) => fc.sample(manifestCases(root), { seed, numRuns: 100 }), (c: ManifestCase) => `${JSON.stringify(c.layout)} ${c.text !== undefined ? short(c.text) : `base64:${c.base64?.slice(0, 300)}`}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
