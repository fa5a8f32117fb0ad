/**
 * The kernel fuzzer: structure-aware, seeded inputs driven into a REAL kernel (`symphony up` in a
 * child process, src/cli/main.ts) over its real Unix socket and an isolated extension's real stdio,
 * with the kernel's death, hung callers and its memory as the verdicts.
 *
 * Inputs, each counted once:
 * - frames from socket peers, after hello and before it: JSON-RPC messages whose parts are fuzzed
 *   (ids of every JSON type and raw numeric forms, reserved and unknown methods, params nested
 *   thousands deep, huge and odd numbers, lone surrogates, NUL, BOMs, `__proto__` keys), batches
 *   (empty, nested, mixed), garbage, invalid and overlong UTF-8, truncated and oversize frames
 *   (their id at the start or far in), in NDJSON and Content-Length framing, with bad and
 *   impossible headers and framing switches mid-stream, written in random chunks by several
 *   concurrent connections;
 * - answers: a peer serving `fz.junk` answers each call with junk (neither result nor error,
 *   both, malformed errors, deep or oversize results with the id anywhere, error ping-pong bait,
 *   wrong ids followed by the right answer);
 * - frames on an isolated extension's stdout (its frame channel, so straight into the kernel's
 *   decoder for that peer), and lines on its stderr (the log relay: odd levels, newlines in
 *   messages, no newline at all, invalid UTF-8, long lines).
 *
 * After each batch: the kernel is alive; a well-behaved probe's ping and call are answered within
 * PROBE_MS; no caller hung (every request the fuzzer sent that must be answered, on a connection
 * whose framing it kept intact, got its answer carrying its id exactly as sent, or its connection
 * was closed, within HUNG_MS); the kernel's RSS is within its bound; no relayed stderr line
 * reads as a line of the kernel's own. A crash is recorded with the seed, the batch and the inputs
 * that were in flight (written to a file to replay), the kernel restarted, and the run goes on.
 *
 * Reproducible: the same seed gives the same inputs in the same batches (FUZZ_SEED replays one).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import fc from 'fast-check';
import { mulberry32 } from '../random.mjs';
import { delay, lspFrame, RawPeer, startSystemKernel, wireFixtures, type ChildKernel, type RawFrame } from '../bus/wire-harness.js';
import { BatchRecording, readReplay } from './fuzz-replay.js';

const MB = 1024 * 1024;
/** A call that must be answered is answered (or its connection closed) within this. */
export const HUNG_MS = 3000;
/** The probe's ping and call round trip within this, after each batch. */
export const PROBE_MS = 2000;
/** The deadline of a call the callee never answers (a legitimate wait, well within HUNG_MS). */
export const SILENT_DEADLINE_MS = 800;
const SILENT_OWED = [-32003, -32005, -32004, -32601] as const;

export interface KernelFuzzOptions {
  seed?: number;
  /** Stop after this many inputs (default 20,000) or this long (default no limit), whichever first. */
  inputs?: number;
  budgetMs?: number;
  /** Inputs per batch (default 400). */
  batch?: number;
  /** The kernel's RSS may grow this much over its baseline (default 256 MB). */
  rssGrowthMb?: number;
  /** Crashes after which the run stops (default 10): each costs a kernel restart. */
  maxCrashes?: number;
  /** Failures kept as samples (default 8). */
  samples?: number;
  onBatch?: (r: KernelFuzzResult) => void;
}

export type InputKind = 'frame' | 'frame-prehello' | 'answer' | 'stdio-frame' | 'stderr-line';

export interface KernelFuzzFailure {
  kind: 'crash' | 'hung' | 'probe' | 'rss' | 'forged-line' | 'altered-id';
  seed: number;
  batch: number;
  detail: string;
  /** A file holding the batch's inputs, whole, to replay (replayKernelBatch). */
  inputsFile?: string;
}

export interface KernelFuzzResult {
  seed: number;
  inputs: number;
  byKind: Record<InputKind, number>;
  batches: number;
  bytes: number;
  /** Requests the fuzzer tracked (must be answered) and how many were. */
  tracked: number;
  answered: number;
  crashes: number;
  hung: number;
  alteredIds: number;
  probeFailures: number;
  forgedLines: number;
  rssViolations: number;
  /** The kernel's RSS: after its start, its peak, at the end, and after every 10th of the run (bounded, not creeping). */
  kernelRss: { baselineMb: number; maxMb: number; endMb: number; traceMb: number[] };
  probe: { p50Ms: number; p99Ms: number; maxMs: number; count: number };
  kernelRestarts: number;
  failures: number;
  samples: KernelFuzzFailure[];
  ms: number;
  inputsPerSecond: number;
}

// ---- generation -----------------------------------------------------------------------------------

const prng = mulberry32;

class Gen {
  readonly r: () => number;
  /** fast-check values for this batch (JSON values and strings of any code point), sampled once. */
  readonly values: unknown[];
  readonly strings: string[];
  #v = 0;
  #s = 0;
  constructor(seed: number) {
    this.r = prng(seed);
    const codePoint = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
    this.values = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed, numRuns: 64 });
    this.strings = fc.sample(fc.oneof(fc.string({ unit: codePoint, maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ maxLength: 16 })), { seed: seed + 1, numRuns: 64 });
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  value(): unknown {
    return this.values[this.#v++ % this.values.length];
  }
  string(): string {
    return this.strings[this.#s++ % this.strings.length]!;
  }

  /** Raw JSON text for a value, with the odd forms JSON.stringify never writes. */
  json(depth = 0): string {
    const k = this.int(depth > 2 ? 6 : 12);
    switch (k) {
      case 0:
        return JSON.stringify(this.value()) ?? 'null';
      case 1:
        return this.pick(ODD_NUMBERS);
      case 2:
        return this.pick(ODD_STRINGS);
      case 3:
        return JSON.stringify(this.string());
      case 4:
        return this.pick(['null', 'true', 'false', '0', '""', '{}', '[]']);
      case 5:
        return String(this.int(1000));
      case 6:
      case 7:
        return this.deep();
      case 8:
        return `[${Array.from({ length: this.int(4) }, () => this.json(depth + 1)).join(',')}]`;
      case 9:
        return `{${Array.from({ length: this.int(4) }, () => `${JSON.stringify(this.pick(KEYS))}:${this.json(depth + 1)}`).join(',')}}`;
      case 10:
        return `{"__proto__":${this.json(depth + 1)},"constructor":{"prototype":{"polluted":1}}}`;
      default:
        return JSON.stringify('s'.repeat(this.int(3000)));
    }
  }

  /** Arrays or objects nested 1 to 20,000 deep (mostly thousands): what recursion dies on. */
  deep(): string {
    const depth = this.pick([3, 64, 1000, 2500, 5000, 5000, 10_000, 20_000]);
    const kind = this.int(3);
    if (kind === 0) return '['.repeat(depth) + ']'.repeat(depth);
    if (kind === 1) return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    return '[{"x":'.repeat(depth / 2) + '0' + '}]'.repeat(depth / 2);
  }

  /** An id of any JSON type and raw form; `track` when it is one the protocol must answer. */
  id(n: number): { text: string | undefined; track: boolean } {
    switch (this.int(16)) {
      case 0:
        return { text: undefined, track: false }; // a notification
      case 1:
        return { text: 'null', track: false };
      case 2:
        return { text: this.pick(['true', 'false', '{}', '[]', '[1]', '{"a":1}']), track: false };
      case 3:
        return { text: `${n}00000000000000000000`, track: true }; // beyond 2^53
      case 4:
        return { text: String(BigInt(2 ** 53) + BigInt(2 * n + 1)), track: true };
      case 5:
        return { text: this.pick([`${n}.0`, `${n}e0`, `${n}E+0`, `${n}.000`, `${n * 10}e-1`]), track: true };
      case 6:
        return { text: `-${n}`, track: true };
      case 7:
        return { text: JSON.stringify(`${this.string()}#${n}`), track: true };
      case 8:
        return { text: `"\\u00e9\\u0000\\ud800#${n}"`, track: true };
      case 9:
        return { text: `1e400`, track: false }; // not a finite number: refused, id unknowable
      default:
        return { text: String(n), track: true };
    }
  }
}

const ODD_NUMBERS = ['1e400', '-1e400', '-0', '-0.0', '9007199254740993', '0.1e-400', '123456789012345678901234567890123456789', '1E+308', '5e-324', '1.0', '0e0', '-9223372036854775809', '18446744073709551616', `${'9'.repeat(400)}`, '0.' + '0'.repeat(300) + '1'];
const ODD_STRINGS = ['"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\ufeff"', '"\ufeff"', '"é🎻"', '"\\u202e"', '"a\\nb\\r\\u2028"', `"${'\\\\'.repeat(200)}"`, '"\\uDBFF\\uDFFF"', '"\u0000"'];
const KEYS = ['a', 'id', 'method', 'result', 'error', 'jsonrpc', '__proto__', 'constructor', 'toString', 'meta', 'params', '', '\u0000', '🎻'];
const METHODS = ['symphony.ping', 'symphony.ping', 'fz.echo', 'fz.echo', 'fz.echo', 'fz.junk', 'fz.junk', 'nobody.here', 'symphony.nope', '$/nope', 'symphony.register', 'symphony.subscribe', 'symphony.unsubscribe', 'symphony.publish', 'symphony.hello', 'symphony.unregister', 'fz.*', ''];
/** Methods whose params the fuzzer keeps harmless (they change the bus's state). */
const STATEFUL = new Set(['symphony.register', 'symphony.unregister', 'symphony.subscribe', 'symphony.unsubscribe', 'symphony.publish']);

/** Bytes that are not UTF-8, or not shortest-form, or a BOM. */
const BAD_UTF8 = [Buffer.from([0xff, 0xfe]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xe0, 0x80, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from([0xc3]), Buffer.from([0x80, 0x80])];

interface Tracked {
  /** The id as written, and what it parses to (to tell an altered id from a missing answer). */
  text: string;
  value: unknown;
  sentAt: number;
  method: string;
  batchElement: boolean;
  /**
   * The error codes its answer may carry (a call the callee never answers: the deadline's, -32003,
   * or an earlier typed refusal of the callee: circuit open -32005, gone -32004, not served -32601).
   */
  owed?: readonly number[];
}

/** One generated frame body, and the requests in it the protocol must answer. */
interface Body {
  bytes: Buffer;
  tracked: { text: string; method: string; batchElement: boolean }[];
  /** The id texts of every request in it, tracked or not (an answer to an untracked one is no altered id). */
  ids?: string[];
  /** The id a `$/cancelRequest` in it names: a call of that id may then be answered -32800. */
  cancels?: string;
}

function request(g: Gen, n: () => number, opts: { allowDeep: boolean }): { text: string; idText: string | undefined; track?: { text: string; method: string } } {
  let method = g.pick(METHODS);
  const id = g.id(n());
  let params: string | undefined;
  if (STATEFUL.has(method)) {
    // Odd, but never one that makes this peer serve what it will not answer, or listen to everything.
    params = g.pick(['{}', '{"methods":[]}', '{"methods":"x"}', '{"pattern":"fz.none"}', '{"topic":"fz.t","data":1}', '[]', 'null', '{"methods":[1,2]}']);
  } else if (g.chance(0.7)) {
    params = opts.allowDeep ? g.json() : JSON.stringify(g.value()) ?? 'null';
  }
  if (method === 'symphony.hello') params = g.pick(['{}', '{"protocol":1}', '{"protocol":1,"token":"nope"}', '{"protocol":2}']);
  if (g.chance(0.02)) method = g.string();
  const parts = [g.chance(0.95) ? '"jsonrpc":"2.0"' : g.pick(['"jsonrpc":"1.0"', '"jsonrpc":2', '"jsonrpc":null'])];
  if (id.text !== undefined) parts.push(`"id":${id.text}`);
  parts.push(`"method":${JSON.stringify(method)}`);
  if (params !== undefined) parts.push(`"params":${params}`);
  if (g.chance(0.3)) parts.push(`"meta":${g.pick([`{"deadline":${Date.now() + 10_000}}`, '{"deadline":"soon"}', '{"deadline":1e400}', '{"traceparent":"00-x"}', '[]', 'null', `{"deadline":${Date.now() + 10_000},"peer":"kernel"}`])}`);
  if (g.chance(0.05)) parts.push(`"extra":${g.json(2)}`);
  // Order of members varies: the id need not come first.
  for (let i = parts.length - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  }
  const text = `{${parts.join(',')}}`;
  const valid = parts.includes('"jsonrpc":"2.0"') && id.track && method.length > 0 && typeof method === 'string';
  return { text, idText: id.text, track: valid ? { text: id.text!, method } : undefined };
}

/** A frame body: a request (mostly), a batch, a stray response, junk. */
function body(g: Gen, n: () => number, maxFrame: number): Body {
  const k = g.int(100);
  if (k < 55) {
    const r = request(g, n, { allowDeep: true });
    return { bytes: Buffer.from(r.text), tracked: r.track ? [{ ...r.track, batchElement: false }] : [], ids: r.idText === undefined ? [] : [r.idText] };
  }
  if (k < 65) {
    // A batch: empty, of junk, nested, mixed requests and notifications.
    const shape = g.int(6);
    if (shape === 0) return { bytes: Buffer.from('[]'), tracked: [] };
    if (shape === 1) return { bytes: Buffer.from(g.pick(['[1,2,3]', '[[]]', '[[{"jsonrpc":"2.0","id":1,"method":"symphony.ping"}]]', '[null]', '[{}]'])), tracked: [] };
    const elements: string[] = [];
    const ids: string[] = [];
    const tracked: Body['tracked'] = [];
    for (let i = 0, m = 1 + g.int(6); i < m; i++) {
      if (g.chance(0.15)) {
        elements.push(g.pick(['1', '"x"', '{}', 'null', '[]']));
        continue;
      }
      const r = request(g, n, { allowDeep: false });
      elements.push(r.text);
      if (r.idText !== undefined) ids.push(r.idText);
      if (r.track) tracked.push({ ...r.track, batchElement: true });
    }
    return { bytes: Buffer.from(`[${elements.join(',')}]`), tracked, ids };
  }
  if (k < 72) {
    // A stray response: an answer or an error to nothing (id null, unknown, odd).
    const id = g.pick(['null', String(g.int(1_000_000)), '"stray"', '1e400', '[]']);
    const t = g.chance(0.5) ? `{"jsonrpc":"2.0","id":${id},"error":${g.pick(['{"code":-32600,"message":"x"}', 'null', '"e"', '{"code":"x"}', '{}'])}}` : `{"jsonrpc":"2.0","id":${id},"result":${g.json(2)}}`;
    return { bytes: Buffer.from(t), tracked: [] };
  }
  if (k < 78) {
    // Not JSON: truncated, garbage, a lone token.
    const req = request(g, n, { allowDeep: true });
    const r = req.text;
    return { bytes: Buffer.from(g.pick([r.slice(0, g.int(r.length)), g.string(), '{', ']', 'nul', '{"jsonrpc":"2.0",', '\u0000'])), tracked: [], ids: req.idText === undefined ? [] : [req.idText] };
  }
  if (k < 84) {
    // Bytes that are not UTF-8 (or a BOM) inside or in front of a request.
    const r = request(g, n, { allowDeep: false });
    const bad = g.pick(BAD_UTF8);
    const text = Buffer.from(r.text);
    const at = g.chance(0.5) ? 0 : g.int(text.length);
    return { bytes: Buffer.concat([text.subarray(0, at), bad, text.subarray(at)]), tracked: [], ids: r.idText === undefined ? [] : [r.idText] };
  }
  if (k < 87) {
    // Oversize: over the frame limit, the id at the start or far in.
    const idAtEnd = g.chance(0.5);
    const nn = n();
    const pad = `"${'p'.repeat(maxFrame + g.int(4096))}"`;
    const t = idAtEnd ? `{"jsonrpc":"2.0","method":"fz.echo","params":${pad},"id":${nn}}` : `{"jsonrpc":"2.0","id":${nn},"method":"fz.echo","params":${pad}}`;
    // Answered -32006 with its id where the id can be known: tracked when it comes first.
    return { bytes: Buffer.from(t), tracked: idAtEnd ? [] : [{ text: String(nn), method: 'oversize', batchElement: false }] };
  }
  if (k < 90) {
    // $/cancelRequest of something: in flight, unknown, malformed.
    const params = g.pick(['{"id":1}', `{"id":${g.int(100)}}`, '{}', 'null', '{"id":null}', '{"id":[1]}']);
    return { bytes: Buffer.from(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":${params}}`), tracked: [], cancels: /^\{"id":(\d+)\}$/.exec(params)?.[1] };
  }
  // A plain JSON value that is not a message.
  return { bytes: Buffer.from(JSON.stringify(g.value()) ?? 'null'), tracked: [] };
}

/** An answer the junk server gives to a call (`id` as it received it); `then` is the right answer after it, when the junk cannot be tied to the call. */
function junkAnswer(g: Gen, idText: string, maxFrame: number): { frames: string[]; correlatable: boolean; kind: number } {
  const k = g.int(16);
  return { ...junkOf(g, k, idText, maxFrame), kind: k };
}

function junkOf(g: Gen, k: number, idText: string, maxFrame: number): { frames: string[]; correlatable: boolean } {
  const ok = `{"jsonrpc":"2.0","id":${idText},"result":"late-but-right"}`;
  switch (k) {
    case 0:
      return { frames: [`{"jsonrpc":"2.0","id":${idText}}`], correlatable: true }; // neither result nor error
    case 1:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":1,"error":{"code":1,"message":"both"}}`], correlatable: true };
    case 2:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"error":${g.pick(['null', '"boom"', '42', '[]', '{}', '{"code":"x","message":1}', '{"code":-32600}', '{"code":1e400,"message":"m"}'])}}`], correlatable: true };
    case 3:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":${g.deep()}}`], correlatable: true };
    case 4:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":"${'r'.repeat(maxFrame + 10)}"}`], correlatable: true }; // oversize, id first
    case 5:
      return { frames: [`{"jsonrpc":"2.0","result":"${'r'.repeat(maxFrame + 10)}","id":${idText}}`], correlatable: true }; // oversize, id far in
    case 6:
      return { frames: [`{"jsonrpc":"1.0","id":${idText},"result":1}`], correlatable: true };
    case 7:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":${g.json()}}`, `{"jsonrpc":"2.0","id":${idText},"result":"again"}`], correlatable: true }; // twice
    case 8:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":${g.pick(ODD_NUMBERS)}}`], correlatable: true };
    case 9:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":${g.pick(ODD_STRINGS)}}`], correlatable: true };
    case 10:
      // Ping-pong bait: an error with id null first, then the answer.
      return { frames: ['{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bait"}}', ok], correlatable: false };
    case 11:
      return { frames: [`{"jsonrpc":"2.0","id":${g.int(1_000_000) + 1_000_000},"result":"wrong id"}`, ok], correlatable: false };
    case 12:
      return { frames: [g.string().replace(/\n/g, ''), ok], correlatable: false };
    case 13:
      return { frames: [`[{"jsonrpc":"2.0","id":${idText},"result":"in a batch"}]`, ok], correlatable: false };
    default:
      return { frames: [`{"jsonrpc":"2.0","id":${idText},"result":${g.json()}}`], correlatable: true };
  }
}

/** A line for the extension's stderr: the relay's input. */
function stderrLine(g: Gen, marker: string): Buffer {
  const level = g.pick(['info', 'warn', 'error', 'debug', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 'x'.repeat(5000), 'INFO', 'fatal', 'log', '1', 'null']);
  const message = g.pick([`m ${marker}`, `a\n     1ms  kernel: error ${marker}`, `b\r\n     2ms  kernel: ${marker}`, `c\r${marker}`, g.string(), 'x'.repeat(g.int(70_000)), `\u001b[2J${marker}`]);
  const k = g.int(10);
  if (k < 5) return Buffer.from(`${JSON.stringify({ level, message, ...(g.chance(0.3) ? { data: { k: g.value(), n: `\n${marker}` } } : {}) })}\n`);
  if (k < 6) return Buffer.from(`${g.pick(['{"level":', '{"level":"__proto__","message":', '{', 'null', '[]', '"str"', '1e400', '{"level":1,"message":2}', '{"message":{"a":1}}', '{"level":"info","message":null}'])}\n`);
  if (k < 7) return Buffer.concat([g.pick(BAD_UTF8), Buffer.from(`${JSON.stringify({ level: 'info', message: marker })}`), g.pick(BAD_UTF8), Buffer.from('\n')]);
  if (k < 8) return Buffer.from(`${'y'.repeat(g.pick([10, 65_536, 500_000]))}\n`); // long
  if (k < 9) return Buffer.from(`plain text ${marker} ${g.string().replace(/[\r\n]/g, '')}\n`);
  return Buffer.from(g.pick(['\n', '\r\n', '\r', '']));
}

// ---- the connections --------------------------------------------------------------------------------

/** A fuzzing connection after hello; `clean` ones keep the framing intact (their requests are tracked). */
class FuzzConnection {
  peer!: RawPeer;
  readonly pending = new Map<string, Tracked>();
  #n = 0;
  constructor(
    readonly name: string,
    readonly framing: 'ndjson' | 'content-length',
    readonly clean: boolean,
  ) {}
  nextId(): number {
    return ++this.#n;
  }
  async open(k: ChildKernel): Promise<void> {
    this.pending.clear();
    this.peer = await RawPeer.hello(k.path, k.token, this.name, this.framing === 'content-length' ? { framing: 'content-length' } : {});
    if (this.framing === 'content-length') this.peer.framing = 'content-length';
    quiet(this.peer);
    this.peer.onFrame = (f) => this.#answer(f);
    this.peer.closed.then(() => this.pending.clear());
  }
  /** Answers clear their request: by the id's raw text; a match by value only is an altered id. */
  altered: string[] = [];
  /**
   * The id texts of every request sent that was not tracked (a frame that was not JSON, say, is
   * answered with the id the kernel could read): an answer carrying one of them is that one's,
   * not another pending request's id altered (two ids past 2^53 may read as the same number).
   */
  readonly sentUntracked = new Set<string>();
  /** Answered, but not with the error the call was owed. */
  wrong: string[] = [];
  answered = 0;
  #answer(f: RawFrame): void {
    const msgs = Array.isArray(f.json) ? f.json : [f.json];
    const raws = Array.isArray(f.json) ? splitTopLevel(f.raw) : [f.raw];
    msgs.forEach((m: any, i: number) => {
      if (!m || typeof m !== 'object' || !('id' in m) || m.method !== undefined) return;
      const raw = rawIdOf(raws[i] ?? '');
      const t = raw === undefined ? undefined : this.pending.get(raw);
      if (t) {
        this.pending.delete(raw!);
        this.answered++;
        if (t.owed && !t.owed.includes(m.error?.code)) this.wrong.push(`${t.method} id ${t.text}: its answer must be one of the errors ${t.owed.join(', ')}, got ${raws[i]!.slice(0, 200)}`);
        return;
      }
      if (raw !== undefined && this.sentUntracked.has(raw)) return;
      for (const [key, t] of this.pending) {
        if (sameValue(t.value, m.id)) {
          this.pending.delete(key);
          this.answered++;
          this.altered.push(`${t.method} id ${t.text} came back as ${raw}`);
          return;
        }
      }
    });
  }
  write(bytes: Buffer, g: Gen): void {
    // Random chunk boundaries: the kernel must decode the same however the bytes arrive.
    let at = 0;
    while (at < bytes.length) {
      const n = g.chance(0.6) ? bytes.length - at : 1 + g.int(Math.min(bytes.length - at, g.pick([1, 7, 64, 4096, 65_536])));
      this.peer.write(bytes.subarray(at, at + n));
      at += n;
    }
  }
  frame(bodyBytes: Buffer): Buffer {
    if (this.framing === 'ndjson') return Buffer.concat([bodyBytes, Buffer.from('\n')]);
    return Buffer.concat([Buffer.from(`Content-Length: ${bodyBytes.length}\r\n\r\n`), bodyBytes]);
  }
}

/** The id member's raw text in a message's JSON text (the first top-level "id"). */
export function rawIdOf(text: string): string | undefined {
  // Walk the top-level object only: nested objects may hold "id" keys of their own.
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const key = text.slice(i, j + 1);
      i = j + 1;
      if (depth === 1 && key === '"id"') {
        let p = i;
        while (text[p] === ' ') p++;
        if (text[p] !== ':') continue;
        p++;
        while (text[p] === ' ') p++;
        if (text[p] === '"') {
          let q = p + 1;
          while (q < text.length && text[q] !== '"') q += text[q] === '\\' ? 2 : 1;
          return text.slice(p, q + 1);
        }
        const m = /^[-+0-9.eE]+|^null|^true|^false/.exec(text.slice(p, p + 500));
        return m?.[0];
      }
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return undefined;
}

/** The elements of a top-level JSON array, as raw text. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      continue;
    }
    if (c === '[' || c === '{') {
      if (depth === 1 && start < 0) start = i;
      depth++;
    } else if (c === ']' || c === '}') {
      depth--;
      if (depth === 1 && start >= 0) {
        out.push(text.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return out;
}

/** The bytes are UTF-8 and JSON (the oversize ones, never parsed by the kernel whole, are judged by their head). */
function isJson(bytes: Buffer): boolean {
  if (bytes.length > MAX_FRAME) return true;
  const text = bytes.toString('utf8');
  if (Buffer.byteLength(text) !== bytes.length || text.includes('\ufffd')) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Object.is(Math.abs(a), Math.abs(b)));
}

function parseId(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

// ---- the run ----------------------------------------------------------------------------------------

interface World {
  k: ChildKernel;
  conns: FuzzConnection[];
  junk: RawPeer;
  echo: RawPeer;
  probe: RawPeer;
  junkGen: { g: Gen };
  /** The batch being recorded (the junk server's answers are part of it), and answers to give instead of generating them (a replay). */
  recording?: BatchRecording;
  replayAnswers?: Map<string, Buffer[]>;
  junkCalls: number;
  baselineRss: number;
  stdoutSeen: number;
}

const MAX_FRAME = 1024 * 1024;
/** A process's CPU time (user + system) in ms, from /proc; 0 once it is gone. */
function cpuMsOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** Stands for the bus's id in a recorded junk answer (the bus numbers its calls afresh in a replay). */
const REPLAY_ID = '"@@bus-id@@"';
/** What the junk server answered to each call (by the caller's connection and id), for the report. */
const junkGiven = new Map<string, string>();

/** A long-lived peer keeps no frames (its waiters and onFrame see them): a million inputs would hold them all. */
function quiet(p: RawPeer): RawPeer {
  p.keepFrames = false;
  p.frames.length = 0;
  return p;
}

async function openWorld(seed: number): Promise<World> {
  const k = await startSystemKernel({ extensions: [join(wireFixtures, 'fuzz-peer')], orchestra: { restart: { max: 100_000, within: '1s' } } });
  const conns = [new FuzzConnection('fz-a', 'ndjson', true), new FuzzConnection('fz-b', 'ndjson', true), new FuzzConnection('fz-c', 'content-length', true), new FuzzConnection('fz-d', 'ndjson', false), new FuzzConnection('fz-e', 'content-length', false)];
  const world: World = { k, conns, junk: undefined as never, echo: undefined as never, probe: undefined as never, junkGen: { g: new Gen(seed ^ 0x5bd1e995) }, junkCalls: 0, baselineRss: 0, stdoutSeen: 0 };
  await openServers(world);
  for (const c of conns) await c.open(k);
  world.probe = quiet(await RawPeer.hello(k.path, k.token, 'fz-probe'));
  await delay(200);
  world.baselineRss = k.rss() ?? 0;
  return world;
}

async function openServers(w: World): Promise<void> {
  // fz.echo: a well-behaved server. fz.junk: answers every call with junk (see junkAnswer).
  w.echo = quiet(await RawPeer.hello(w.k.path, w.k.token, 'fz-echo'));
  w.echo.onFrame = (f) => {
    if (f.json?.method && f.json.id !== undefined) w.echo.write(`{"jsonrpc":"2.0","id":${rawIdOf(f.raw) ?? 'null'},"result":"echo"}\n`);
  };
  await w.echo.register('fz.echo');
  w.junk = quiet(await RawPeer.hello(w.k.path, w.k.token, 'fz-junk'));
  w.junk.onFrame = (f) => {
    if (!f.json?.method || f.json.id === undefined || f.json.params?.silent === true) return;
    // Keyed by the driver's call tag, or (a call inside a fuzzed frame) by its arrival.
    const key = typeof f.json.params?.call === 'string' ? f.json.params.call : `#${++w.junkCalls}`;
    const replayed = w.replayAnswers?.get(key);
    const idText = rawIdOf(f.raw) ?? 'null';
    // A replayed answer was given to the bus's id of then: today's id goes in its place.
    const frames = replayed ? replayed.map((b) => b.toString('latin1').replaceAll(`"id":${REPLAY_ID}`, `"id":${idText}`)) : undefined;
    const a = frames ? { kind: -1, frames } : junkAnswer(w.junkGen.g, idText, MAX_FRAME);
    if (typeof f.json.params?.call === 'string') junkGiven.set(f.json.params.call, `(got it at ${Math.round(performance.now())}) ${a.kind}: ${a.frames.map((x) => x.slice(0, 120)).join(' then ')}`);
    for (const fr of a.frames) {
      const bytes = Buffer.from(`${fr}\n`, frames ? 'latin1' : 'utf8');
      w.recording?.record('fz-junk', Buffer.from(bytes.toString('latin1').replaceAll(`"id":${idText}`, `"id":${REPLAY_ID}`), 'latin1'), key);
      w.junk.write(bytes);
    }
  };
  await w.junk.register('fz.junk');
}

export async function fuzzKernel(options: KernelFuzzOptions = {}): Promise<KernelFuzzResult> {
  const seed = options.seed ?? Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  const total = options.inputs ?? 20_000;
  const batchSize = options.batch ?? 400;
  const maxSamples = options.samples ?? 8;
  const rssBound = (options.rssGrowthMb ?? 256) * MB;
  const t0 = performance.now();
  const inputsDir = mkdtempSync(join(tmpdir(), 'symphony-fuzz-kernel-'));
  const r: KernelFuzzResult = {
    seed,
    inputs: 0,
    byKind: { frame: 0, 'frame-prehello': 0, answer: 0, 'stdio-frame': 0, 'stderr-line': 0 },
    batches: 0,
    bytes: 0,
    tracked: 0,
    answered: 0,
    crashes: 0,
    hung: 0,
    alteredIds: 0,
    probeFailures: 0,
    forgedLines: 0,
    rssViolations: 0,
    kernelRss: { baselineMb: 0, maxMb: 0, endMb: 0, traceMb: [] },
    probe: { p50Ms: 0, p99Ms: 0, maxMs: 0, count: 0 },
    kernelRestarts: 0,
    failures: 0,
    samples: [],
    ms: 0,
    inputsPerSecond: 0,
  };
  const fail = (f: Omit<KernelFuzzFailure, 'seed'>) => {
    r.failures++;
    if (r.samples.length < maxSamples) r.samples.push({ seed, ...f, detail: f.detail.slice(0, 1500) });
  };
  const probeMs: number[] = [];
  let w = await openWorld(seed);
  r.kernelRss.baselineMb = round(w.baselineRss / MB);
  let maxRss = w.baselineRss;
  const marker = `FZ-FORGE-${seed}`;
  let callN = 0;
  try {
    for (let batch = 0; r.inputs < total && (!options.budgetMs || performance.now() - t0 < options.budgetMs) && r.crashes < (options.maxCrashes ?? 10); batch++) {
      const g = new Gen((seed ^ Math.imul(batch + 1, 0x9e3779b1)) >>> 0);
      w.junkGen.g = new Gen((seed ^ Math.imul(batch + 1, 0x85ebca6b)) >>> 0);
      const log = new BatchRecording(seed, batch);
      w.recording = log;
      w.junkCalls = 0;
      if (junkGiven.size > 10_000) junkGiven.clear();
      const stopRss = w.k.sampleRss(50);
      // What a hung caller is judged beside: did this process stall (its answers unread), was the kernel busy, was the machine?
      const ownLoop = monitorEventLoopDelay({ resolution: 20 });
      ownLoop.enable();
      const batchT0 = performance.now();
      const kernelCpu0 = cpuMsOf(w.k.pid);
      const context = () => `; in this batch the fuzzer's own event loop stalled up to ${Math.round(ownLoop.max / 1e6)} ms, the kernel used ${Math.round(cpuMsOf(w.k.pid) - kernelCpu0)} ms of CPU in ${Math.round(performance.now() - batchT0)} ms, load average ${loadavg()[0]!.toFixed(1)}`;
      const driverCalls: Promise<unknown>[] = [];
      let inBatch = 0;
      const count = (kind: InputKind, n = 1) => {
        r.byKind[kind] += n;
        r.inputs += n;
        inBatch += n;
      };
      // Pre-hello connections: junk first, a bad token, nothing at all.
      const pre: RawPeer[] = [];
      for (let i = 0, m = g.int(3); i < m; i++) {
        const p = await RawPeer.connect(w.k.path).catch(() => undefined);
        if (!p) continue;
        pre.push(p);
        const b = body(g, () => 1, MAX_FRAME).bytes;
        const bytes = g.pick([Buffer.concat([b, Buffer.from('\n')]), Buffer.from(lspFrame('{"jsonrpc":"2.0","id":1,"method":"symphony.hello","params":{"protocol":1,"token":"bad"}}')), Buffer.from(g.pick(['Content-Length: 99999999999999999999\r\n\r\n', 'Content-Length: -5\r\n\r\n{}', 'Content-Length:\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'])), Buffer.alloc(0)]);
        p.write(bytes);
        log.record('pre-hello', bytes);
        count('frame-prehello');
        r.bytes += bytes.length;
      }
      while (inBatch < batchSize) {
        const roll = g.int(100);
        if (roll < 70) {
          // A frame from one of the connections.
          const c = g.pick(w.conns);
          if (!c.peer.open) continue;
          const b = body(g, () => c.nextId(), MAX_FRAME);
          let bytes = c.frame(b.bytes);
          if (!c.clean && g.chance(0.3)) {
            // Framing abuse (dirty connections only): wrong, impossible and missing lengths, header junk, raw newlines.
            bytes = Buffer.concat([
              Buffer.from(g.pick(['Content-Length: 99999999999999999999\r\n\r\n', `Content-Length: ${b.bytes.length + g.int(20) - 10}\r\n\r\n`, 'Content-Length: -1\r\n\r\n', 'Content-Length: 1e3\r\n\r\n', 'Content-Type: x\r\n\r\n', `X: ${'h'.repeat(g.int(10_000))}\r\n`, '\r\n\r\n', 'content-length:0\r\n\r\n', '\n', 'Content-Length: 12\r\nContent-Length: 3\r\n\r\n'])),
              b.bytes,
            ]);
          } else if (c.clean && c.framing === 'ndjson' && b.bytes.includes(0x0a)) {
            continue; // a raw newline inside would cut the frame: not on a clean connection
          }
          const now = performance.now();
          // Only a frame that is JSON (and UTF-8) must be answered with its ids: the fuzzer's odd
          // strings include raw control characters, which make the whole frame a parse error.
          if (c.clean && b.tracked.length && isJson(b.bytes))
            for (const t of b.tracked) {
              if (c.pending.has(t.text)) continue;
              c.pending.set(t.text, { text: t.text, value: parseId(t.text), sentAt: now, method: t.method, batchElement: t.batchElement });
              r.tracked++;
            }
          // The fuzzer cancelled one of its own calls: 'cancelled by the caller' is then its answer too.
          const cancelled = c.clean && b.cancels !== undefined && isJson(b.bytes) ? c.pending.get(b.cancels) : undefined;
          if (cancelled?.owed && !cancelled.owed.includes(-32800)) cancelled.owed = [...cancelled.owed, -32800];
          if (c.clean) {
            if (c.sentUntracked.size > 50_000) c.sentUntracked.clear();
            for (const t of b.ids ?? []) if (!c.pending.has(t)) c.sentUntracked.add(t);
          }
          c.write(bytes, g);
          log.record(c.name, bytes);
          r.bytes += bytes.length;
          count(b.tracked.some((t) => t.method === 'fz.junk') ? 'answer' : 'frame');
        } else if (roll < 82) {
          // A call the junk server answers with junk: the caller must hear at once.
          const c = w.conns[g.int(2)]!;
          if (!c.peer.open) continue;
          const id = c.nextId();
          // One in ten the callee keeps silent: a legitimate wait, so the call carries a short
          // deadline and its caller must get the typed deadline error with its id when it passes.
          const silent = g.chance(0.1);
          c.pending.set(String(id), { text: String(id), value: id, sentAt: performance.now(), method: silent ? 'fz.junk (silent callee)' : 'fz.junk', batchElement: false, ...(silent ? { owed: SILENT_OWED } : {}) });
          r.tracked++;
          // A silent call's params stay shallow: refused as too deep, it would be answered (rightly) before any deadline.
          let p = silent ? (JSON.stringify(g.value()) ?? 'null') : g.json(2);
          if (!isJson(Buffer.from(p))) p = JSON.stringify(p);
          const call = c.frame(Buffer.from(`{"jsonrpc":"2.0","id":${id},"method":"fz.junk","params":{"call":"${c.name}:${id}",${silent ? '"silent":true,' : ''}"p":${p}},"meta":{"deadline":${Date.now() + (silent ? SILENT_DEADLINE_MS : 15_000)}}}`));
          c.write(call, g);
          log.record(c.name, call);
          r.bytes += call.length;
          count('answer');
        } else if (roll < 92) {
          // Lines on the extension's stderr (the log relay).
          // As many as fit in one request (base64 in a frame under the limit).
          const lines: Buffer[] = [];
          for (let i = 0, m = 1 + g.int(12), size = 0; i < m && size < 600_000; i++) {
            const l = stderrLine(g, marker);
            if (size + l.length > 600_000 && lines.length) break;
            lines.push(l);
            size += l.length;
          }
          const p = w.probe;
          const callId = `err-${++callN}`;
          p.send({ jsonrpc: '2.0', id: callId, method: 'fuzzpeer.stderr', params: { lines: lines.map((l) => l.toString('base64')) }, meta: { deadline: Date.now() + 10_000 } });
          driverCalls.push(p.maybe((x) => x.json?.id === callId, 12_000));
          for (const l of lines) log.record('stderr', l);
          count('stderr-line', lines.length);
        } else {
          // Frames on the extension's stdout: into the kernel's decoder for that peer, over stdio.
          const frames = Array.from({ length: 1 + g.int(6) }, () => body(g, () => 1_000_000 + g.int(1_000_000), MAX_FRAME).bytes.filter((b) => b !== 0x0a)).filter((f) => f.length < 100_000);
          const p = w.probe;
          const callId = `out-${++callN}`;
          p.send({ jsonrpc: '2.0', id: callId, method: 'fuzzpeer.stdout', params: { frames: frames.map((f) => Buffer.from(f).toString('base64')) }, meta: { deadline: Date.now() + 10_000 } });
          driverCalls.push(p.maybe((x) => x.json?.id === callId, 12_000));
          for (const f of frames) log.record('stdio', Buffer.from(f));
          count('stdio-frame', frames.length);
        }
        if (inBatch % 50 === 0) await new Promise((res) => setImmediate(res));
      }
      // Let the batch land, then judge it.
      const settleEnd = performance.now() + HUNG_MS;
      while (performance.now() < settleEnd && w.k.alive() && w.conns.some((c) => c.pending.size)) await delay(20);
      for (const p of pre) p.close();
      await Promise.race([Promise.all(driverCalls), delay(HUNG_MS)]);
      const batchRss = stopRss();
      maxRss = Math.max(maxRss, batchRss);
      r.batches++;
      if (!w.k.alive()) {
        ownLoop.disable();
        await w.k.exited;
        const file = log.write(join(inputsDir, `crash-seed${seed}-batch${batch}.json`), `crash: ${w.k.obituary().slice(0, 500)}`);
        r.crashes++;
        fail({ kind: 'crash', batch, detail: w.k.obituary(), inputsFile: file });
        r.kernelRestarts++;
        await w.k.stop();
        w = await openWorld(seed);
        continue;
      }
      // No hung caller: everything tracked was answered (or its connection closed).
      const hungIds: string[] = [];
      for (const c of w.conns) {
        r.answered += c.answered;
        c.answered = 0;
        for (const x of c.wrong.splice(0)) {
          r.hung++;
          hungIds.push(`${c.name} ${x.slice(x.indexOf(' id ') + 4, x.indexOf(':'))}`);
          fail({ kind: 'hung', batch, detail: `${c.name} (${c.framing}): ${x}${context()}` });
        }
        for (const a of c.altered.splice(0)) {
          r.alteredIds++;
          fail({ kind: 'altered-id', batch, detail: a });
        }
        const now = performance.now();
        for (const [key, t] of c.pending) {
          if (now - t.sentAt < HUNG_MS) continue;
          c.pending.delete(key);
          r.hung++;
          const junk = t.method === 'fz.junk' ? `; sent at ${Math.round(t.sentAt)}, the callee answered ${junkGiven.get(`${c.name}:${t.text}`) ?? `nothing (it never got the call; it is ${w.junk.open ? 'connected' : `gone since ${Math.round(w.junk.closedAt!)}`})`}` : '';
          hungIds.push(`${c.name} ${t.text}`);
          fail({ kind: 'hung', batch, detail: `${c.name} (${c.framing}): ${t.method}${t.batchElement ? ' (in a batch)' : ''} id ${t.text} unanswered after ${Math.round(now - t.sentAt)} ms${junk}${context()}` });
        }
      }
      ownLoop.disable();
      if (hungIds.length) {
        // One file for the batch, named in each of its samples.
        const file = log.write(join(inputsDir, `hung-seed${seed}-batch${batch}.json`), `${hungIds.length} hung callers`, hungIds);
        for (const s of r.samples) if (s.kind === 'hung' && s.batch === batch) s.inputsFile = file;
      }
      // The probe: a ping, and a call through the bus to a well-behaved server.
      const pt = performance.now();
      let probeOk = false;
      try {
        if (!w.probe.open) w.probe = quiet(await RawPeer.hello(w.k.path, w.k.token, 'fz-probe'));
        const id = `probe-${batch}`;
        w.probe.send({ jsonrpc: '2.0', id, method: 'symphony.ping' });
        w.probe.send({ jsonrpc: '2.0', id: `${id}-echo`, method: 'fz.echo', params: { batch } });
        const [a, b] = await Promise.all([w.probe.maybe((x) => x.json?.id === id, PROBE_MS), w.probe.maybe((x) => x.json?.id === `${id}-echo`, PROBE_MS)]);
        probeOk = a?.json?.result !== undefined && b?.json?.result === 'echo';
        if (!probeOk) fail({ kind: 'probe', batch, detail: `probe answers: ${a?.raw ?? 'none'} / ${b?.raw ?? 'none'}` });
      } catch (err) {
        fail({ kind: 'probe', batch, detail: `probe: ${(err as Error).message}` });
      }
      probeMs.push(performance.now() - pt);
      if (!probeOk) r.probeFailures++;
      if (batchRss - w.baselineRss > rssBound) {
        r.rssViolations++;
        fail({ kind: 'rss', batch, detail: `kernel RSS ${round(batchRss / MB)} MB, ${round((batchRss - w.baselineRss) / MB)} MB over its baseline (bound ${rssBound / MB} MB)` });
      }
      // No relayed stderr line reads as one of the kernel's own lines.
      const out = w.k.stdout();
      const fresh = out.slice(Math.max(0, Math.min(w.stdoutSeen, out.length)));
      w.stdoutSeen = out.length;
      for (const line of fresh.split(/\r\n|\r|\n/)) {
        if (line.includes(marker) && !/extension '|fuzzpeer/.test(line)) {
          r.forgedLines++;
          if (r.forgedLines <= 3) fail({ kind: 'forged-line', batch, detail: line.slice(0, 300) });
        }
      }
      // Reopen what the kernel closed (it may drop a peer that sent too much junk).
      for (const c of w.conns) if (!c.peer.open) await c.open(w.k).catch(() => {});
      if (!w.echo.open || !w.junk.open) {
        w.echo.close();
        w.junk.close();
        await openServers(w).catch(() => {});
      }
      if (r.inputs >= ((r.kernelRss.traceMb.length + 1) * total) / 10) r.kernelRss.traceMb.push(round(batchRss / MB));
      options.onBatch?.(r);
    }
    r.kernelRss.endMb = round((w.k.rss() ?? 0) / MB);
  } finally {
    for (const c of w.conns) c.peer?.close();
    w.probe?.close();
    w.echo?.close();
    w.junk?.close();
    await w.k.stop();
  }
  r.kernelRss.maxMb = round(maxRss / MB);
  r.probe = { p50Ms: round(pct(probeMs, 50)), p99Ms: round(pct(probeMs, 99)), maxMs: round(Math.max(0, ...probeMs)), count: probeMs.length };
  r.ms = Math.round(performance.now() - t0);
  r.inputsPerSecond = Math.round(r.inputs / (r.ms / 1000));
  return r;
}

export function describeKernelFuzz(r: KernelFuzzResult): string {
  return [
    `kernel fuzz, seed ${r.seed} (replay: FUZZ_SEED=${r.seed}): ${r.inputs} inputs in ${r.batches} batches, ${round(r.bytes / MB)} MB, ${r.ms} ms (${r.inputsPerSecond}/s)`,
    `  by kind: ${JSON.stringify(r.byKind)}`,
    `  tracked requests ${r.tracked}, answered ${r.answered}; crashes ${r.crashes}; hung callers ${r.hung}; altered ids ${r.alteredIds}; probe failures ${r.probeFailures}; forged lines ${r.forgedLines}; RSS violations ${r.rssViolations}`,
    `  kernel RSS: baseline ${r.kernelRss.baselineMb} MB, max ${r.kernelRss.maxMb} MB, end ${r.kernelRss.endMb} MB (every 10th of the run: ${r.kernelRss.traceMb.join(', ')} MB); probe p50 ${r.probe.p50Ms} ms, p99 ${r.probe.p99Ms} ms, max ${r.probe.maxMs} ms over ${r.probe.count} batches`,
    ...r.samples.map((s) => `  ${s.kind} (batch ${s.batch}): ${s.detail.replace(/\n/g, ' | ').slice(0, 600)}${s.inputsFile ? ` [inputs: ${s.inputsFile}]` : ''}`),
  ].join('\n');
}

/**
 * Sends a replay file's batch again, whole and in order, into a fresh kernel (with the junk
 * server giving the answers it gave then): whether the kernel lived, and which of the requests
 * that hung then went unanswered again within HUNG_MS. From a shell:
 *   node --import tsx -e "import('./test/reliability/fuzz-kernel.ts').then(async (m) => console.log(await m.replayKernelBatch(FILE)))"
 */
export async function replayKernelBatch(file: string): Promise<{ alive: boolean; obituary: string; hung: string[]; unanswered: string[]; closed: string[] }> {
  const f = readReplay(file);
  const w = await openWorld(f.seed);
  w.replayAnswers = new Map();
  for (const i of f.inputs) if (i.conn === 'fz-junk') w.replayAnswers.set(i.call!, [...(w.replayAnswers.get(i.call!) ?? []), f.bytes(i)]);
  const pre: RawPeer[] = [];
  try {
    for (const h of f.hung) {
      const [name, text] = [h.slice(0, h.indexOf(' ')), h.slice(h.indexOf(' ') + 1)];
      w.conns.find((c) => c.name === name)?.pending.set(text, { text, value: parseId(text), sentAt: performance.now(), method: 'replayed', batchElement: false });
    }
    let n = 0;
    for (const i of f.inputs) {
      const bytes = f.bytes(i);
      if (i.conn === 'fz-junk') continue;
      if (i.conn === 'pre-hello') {
        const p = await RawPeer.connect(w.k.path);
        pre.push(p);
        p.write(bytes);
      } else if (i.conn === 'stderr' || i.conn === 'stdio') {
        const stderr = i.conn === 'stderr';
        w.probe.send({ jsonrpc: '2.0', id: `replay-${++n}`, method: stderr ? 'fuzzpeer.stderr' : 'fuzzpeer.stdout', params: stderr ? { lines: [bytes.toString('base64')] } : { frames: [bytes.toString('base64')] } });
      } else {
        w.conns.find((c) => c.name === i.conn)?.peer.write(bytes);
      }
      if (++n % 50 === 0) await new Promise((res) => setImmediate(res));
    }
    const end = performance.now() + HUNG_MS;
    while (performance.now() < end && w.k.alive() && w.conns.some((c) => c.pending.size)) await delay(20);
    await delay(100);
    const unanswered = w.conns.flatMap((c) => [...c.pending.keys()].map((t) => `${c.name} ${t}`));
    // A connection the kernel closed owes nothing (its pending calls were dropped with it).
    const closed = w.conns.filter((c) => !c.peer.open).map((c) => c.name);
    return { alive: w.k.alive(), obituary: w.k.alive() ? '' : w.k.obituary(), hung: f.hung, unanswered, closed };
  } finally {
    for (const p of pre) p.close();
    for (const c of w.conns) c.peer?.close();
    w.probe.close();
    w.echo.close();
    w.junk.close();
    await w.k.stop();
  }
}
