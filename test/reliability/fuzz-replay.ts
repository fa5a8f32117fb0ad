/**
 * The kernel fuzzer's replay files: every input of a failed batch, whole, in the order it was
 * sent, with the connection it went to, and the junk server's answers, so the batch can be sent
 * again byte for byte (`replayKernelBatch`). The big inputs are runs (a frame padded past the
 * limit, arrays thousands deep, a stderr line of 500 KB): stored as runs, a file stays small
 * however large its inputs were, and nothing is cut.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** Literal bytes (base64), or a unit (base64) repeated `times`. */
export type PackedPart = string | { unit: string; times: number };

/** One input as it was sent: to a fuzzing connection (by name), a pre-hello one, the extension's stderr or stdout, or the junk server's answer to a call. */
export interface RecordedInput {
  conn: string;
  /** For the junk server's answers: the call it answered (`<connection>:<id>`, or `#<n>` by arrival). */
  call?: string;
  parts: PackedPart[];
}

export interface ReplayFile {
  seed: number;
  batch: number;
  /** Why it was written (a crash, hung callers). */
  why: string;
  /** The requests that went unanswered, as `<connection> <id as sent>`. */
  hung: string[];
  /** Date.now() when the batch began: a replay moves the inputs' `meta.deadline`s by as much as it is later. */
  recordedAt: number;
  inputs: RecordedInput[];
}

/** Shortest run worth storing as one (in repeats of its unit). */
const MIN_REPEATS = 16;
/** Units tried, in bytes: `[`, `{"a":`, `[{"x":` and the like. */
const MAX_UNIT = 8;

/**
 * `bytes` as literal stretches and runs of a unit of 1..MAX_UNIT bytes repeated at least
 * MIN_REPEATS times. Whole: unpack(pack(b)) equals b.
 */
export function pack(bytes: Buffer): PackedPart[] {
  const parts: PackedPart[] = [];
  let literalFrom = 0;
  let i = 0;
  while (i < bytes.length) {
    const run = runAt(bytes, i);
    if (!run) {
      i++;
      continue;
    }
    if (i > literalFrom) parts.push(bytes.subarray(literalFrom, i).toString('base64'));
    parts.push({ unit: bytes.subarray(i, i + run.unit).toString('base64'), times: run.times });
    i += run.unit * run.times;
    literalFrom = i;
  }
  if (bytes.length > literalFrom) parts.push(bytes.subarray(literalFrom).toString('base64'));
  return parts;
}

/** The longest-covering run starting at `i`, if any unit repeats MIN_REPEATS times there. */
function runAt(bytes: Buffer, i: number): { unit: number; times: number } | undefined {
  let best: { unit: number; times: number } | undefined;
  for (let unit = 1; unit <= MAX_UNIT && i + unit * MIN_REPEATS <= bytes.length; unit++) {
    let times = 1;
    while (i + (times + 1) * unit <= bytes.length && bytes.compare(bytes, i, i + unit, i + times * unit, i + (times + 1) * unit) === 0) times++;
    if (times >= MIN_REPEATS && (!best || times * unit > best.times * best.unit)) best = { unit, times };
  }
  return best;
}

export function unpack(parts: PackedPart[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'base64') : Buffer.alloc(Buffer.from(p.unit, 'base64').length * p.times, Buffer.from(p.unit, 'base64')))));
}

/** What a batch sent, kept as references (no copy) until a failure asks for a file. */
export class BatchRecording {
  readonly #inputs: { conn: string; call?: string; bytes: Buffer }[] = [];
  readonly recordedAt = Date.now();
  constructor(
    readonly seed: number,
    readonly batch: number,
  ) {}
  record(conn: string, bytes: Buffer, call?: string): void {
    this.#inputs.push(call === undefined ? { conn, bytes } : { conn, call, bytes });
  }
  write(file: string, why: string, hung: string[] = []): string {
    const out: ReplayFile = { seed: this.seed, batch: this.batch, why, hung, recordedAt: this.recordedAt, inputs: this.#inputs.map((x) => ({ conn: x.conn, ...(x.call === undefined ? {} : { call: x.call }), parts: pack(x.bytes) })) };
    writeFileSync(file, JSON.stringify(out));
    return file;
  }
}

/** A replay file; `bytes` gives an input as sent, its epoch deadlines moved to as far ahead of now as they were then. */
export function readReplay(file: string): ReplayFile & { bytes: (i: RecordedInput) => Buffer } {
  const f = JSON.parse(readFileSync(file, 'utf8')) as ReplayFile;
  const shift = f.recordedAt ? Date.now() - f.recordedAt : 0;
  const bytes = (i: RecordedInput) => {
    const b = unpack(i.parts);
    const text = b.toString('latin1');
    if (!text.includes('"deadline":')) return b;
    return Buffer.from(text.replace(/"deadline":(1\d{12})\b/g, (_, ms: string) => `"deadline":${Number(ms) + shift}`), 'latin1');
  };
  return { ...f, bytes };
}
