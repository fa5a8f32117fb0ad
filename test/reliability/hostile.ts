/**
 * Hostile input, peers: a real Bus listening on a Unix socket, attacked by raw-socket peers in
 * child processes (so what they hold is not counted as the kernel's), while a well-behaved peer
 * (the TypeScript client, in the kernel's process) does request/reply in a loop:
 *
 * (a) a peer that says hello, then never reads while asking for big answers (the bus stops reading
 *     it once its unsent output passes maxOutputBytes/2, and drops it as a slow consumer when that
 *     output has not gone down over a check period: it checks every heartbeat/2);
 * (b) peers that flood pipelined requests: to a slow method (flow control: the bus stops reading
 *     past maxInFlight, loses nothing) and to an echo (raw throughput, fairness);
 * (c) a peer that sends huge frames (NDJSON lines and Content-Length bodies of ~100 MB): skipped
 *     without being buffered, answered -32006, the stream stays in sync;
 * (d) peers that connect and never say hello (silent, half a hello, a byte at a time): dropped after
 *     2x heartbeat;
 * (e) garbage streams, before and after hello, reconnecting whenever the bus drops them.
 *
 * The good peer's latency is measured before (quiet), during (attack) and after, and the kernel
 * process's memory is sampled throughout. hostilePeers() returns the figures and judges them
 * against HOSTILE_BOUNDS (`violations`, `ok`); hostile.test.ts asserts there are none.
 *
 * burstOfBigAnswers() runs a kernel in a child process, for a burst that takes it down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bus, connect, type BusClient, type BusEvent } from '../../src/bus/index.js';

export interface HostileOptions {
  /** Quiet measurement before the attack, and again after it (ms; default 1000). */
  quietMs?: number;
  /**
   * Attack duration (ms; default 4000), at least: it lasts until the huge frames are through and the
   * connections without hello have been dropped (2x heartbeat). The good peer measures throughout.
   */
  attackMs?: number;
  /** Size of each huge frame (default 100 MiB) and how many per framing (default 1). */
  hugeFrameBytes?: number;
  hugeFrames?: number;
  /** Connections that never say hello (default 24: silent, half a hello, one byte at a time). */
  silentPeers?: number;
  /**
   * Bus options, small so the test is quick. The heartbeat (default 3 s) must let a huge frame
   * arrive whole within 2 heartbeats even on a loaded machine: the bus counts only complete
   * messages as signs of life, so it drops a peer that is still sending one frame after that.
   */
  heartbeatMs?: number;
  maxOutputBytes?: number;
  maxInFlight?: number;
  /** What the non-reader asks for: answers of this size (default 256 KiB), `batch` requests every `everyMs`. */
  bigAnswerBytes?: number;
  nonReader?: { batch: number; everyMs: number };
  /** Echo flood: requests kept outstanding (default 256). */
  echoWindow?: number;
  /** Garbage: bytes per 10 ms per connection (default 64 KiB, 6.4 MB/s); 0 for as fast as the socket takes it. */
  garbageBytesPer10ms?: number;
  /** Which attacks run (default all). */
  attacks?: Attack[];
  seed?: number;
}

export type Attack = 'non-reader' | 'flood' | 'echo-flood' | 'huge' | 'silent' | 'garbage';

export interface Latency {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

export interface MemoryFigures {
  /** MiB: after a full GC before the attack, the highest sample during it, after a full GC once it is over. */
  baselineRssMb: number;
  peakRssMb: number;
  afterRssMb: number;
  baselineHeapMb: number;
  peakHeapMb: number;
  afterHeapMb: number;
  /** Array buffers and external memory (socket buffers, Buffers) at their peak. */
  peakExternalMb: number;
  samples: number;
}

export interface HostileResult {
  options: Required<Omit<HostileOptions, 'nonReader' | 'attacks'>> & { nonReader: { batch: number; everyMs: number }; attacks: Attack[] };
  latency: { quiet: Latency; attack: Latency; after: Latency };
  memory: MemoryFigures;
  nonReader?: { requests: number; disconnectedAfterMs: number | null; peakQueuedBytes: number; reason: string | undefined };
  flood?: { sent: number; answered: number; errors: number; maxServing: number; lost: number };
  echoFlood?: { sent: number; answered: number; errors: number; perSecond: number };
  huge?: { frames: number; bytes: number; tooLarge: number; afterOk: number; mbPerSecond: number; errors: string[] };
  silent?: { connections: number; dropped: number; dropMs: { min: number; max: number } };
  garbage?: { connections: number; bytes: number; errorAnswers: number; droppedByBus: number };
  bus: { protocolErrors: number; slowConsumers: number; peersLeft: number; hellosRefused: number };
  /** Hostile peers that failed, exited or did not report in time (their figures are then missing). */
  childProblems: string[];
  /** The bounds judged (see HOSTILE_BOUNDS), what broke them, and the verdict. */
  bounds: typeof HOSTILE_BOUNDS;
  violations: string[];
  ok: boolean;
  ms: number;
}

/**
 * What hostilePeers() holds the kernel to, with a wide margin on a busy 2-core machine. Figures
 * seen on this one (short form, all attacks at once, another test file running beside it) in
 * parentheses:
 * - the good peer's median under attack below 5x its quiet median or 0.5 ms, whichever is larger
 *   (0.018 to 0.023 ms: the same as quiet, a loop turn); this is the fairness bound: a peer that
 *   starves the others pushes the median to tens of ms (54 ms seen with an unbounded echo flood, a
 *   200 MB/s non-reader and unpaced garbage together);
 * - its p99 under attack below 250 ms (5 to 26 ms usually; 129 ms once, with the machine loaded by
 *   other work: with six attackers on two cores the p99 is the OS scheduler's), and no error;
 * - the kernel's RSS at most +256 MB over its baseline during the attack (+63 to +116 MB: mostly
 *   read buffers awaiting GC and the floods' answers; one 100 MB frame buffered whole would cost
 *   over 300 MB: its chunks, their concatenation, the string);
 * - after, the heap within 16 MB of its baseline (+0.5 to +1.1 MB) and RSS within 128 MB (+30 to
 *   +56 MB: the allocator keeps freed pages);
 * - the non-reader dropped as a slow consumer, within a heartbeat and a half of its hello (3.0 s
 *   with the 3 s heartbeat), its unread output at most maxOutputBytes plus what it asked for in one
 *   check period (heartbeat/2) plus 1 MiB (2.1 MB of 4 MiB: the bus stops reading it at half);
 * - the slow flood never holds more than maxInFlight requests in service, and loses nothing;
 * - every huge frame answered -32006 and the small request after it answered;
 * - every connection without hello dropped between 2x heartbeat (less 50 ms) and 2.5x heartbeat
 *   plus 1 s (6.2 to 7.4 s with the 3 s heartbeat used: the bus checks every heartbeat/2);
 * - the garbage peer dropped by the bus (more than 100 bad frames) and reconnected;
 * - no hostile peer left in the bus's table afterwards.
 */
export const HOSTILE_BOUNDS = {
  attackP99Ms: 250,
  attackP50Factor: 5,
  attackP50FloorMs: 0.5,
  rssGrowthMb: 256,
  heapAfterMb: 16,
  rssAfterMb: 128,
} as const;

function judge(r: Omit<HostileResult, 'violations' | 'ok'>): string[] {
  const b = HOSTILE_BOUNDS;
  const o = r.options;
  const v: string[] = [];
  const check = (ok: boolean, what: string) => void (ok || v.push(what));
  const { quiet, attack, after } = r.latency;
  check(attack.p99Ms < b.attackP99Ms, `good peer p99 under attack ${attack.p99Ms} ms >= ${b.attackP99Ms} ms`);
  const p50Bound = Math.max(b.attackP50Factor * quiet.p50Ms, b.attackP50FloorMs);
  check(attack.p50Ms < p50Bound, `good peer median under attack ${attack.p50Ms} ms >= ${round(p50Bound, 3)} ms (quiet ${quiet.p50Ms} ms)`);
  check(quiet.errors + attack.errors + after.errors === 0, `good peer errors: ${quiet.errors} quiet, ${attack.errors} under attack, ${after.errors} after`);
  check(attack.count > 0 && after.count > 0, 'the good peer got no answer');
  const m = r.memory;
  check(m.peakRssMb - m.baselineRssMb < b.rssGrowthMb, `kernel RSS grew ${round(m.peakRssMb - m.baselineRssMb)} MB during the attack (bound ${b.rssGrowthMb} MB)`);
  check(m.afterHeapMb - m.baselineHeapMb < b.heapAfterMb, `kernel heap ${round(m.afterHeapMb - m.baselineHeapMb)} MB over its baseline after the attack (bound ${b.heapAfterMb} MB)`);
  check(m.afterRssMb - m.baselineRssMb < b.rssAfterMb, `kernel RSS ${round(m.afterRssMb - m.baselineRssMb)} MB over its baseline after the attack (bound ${b.rssAfterMb} MB)`);
  if (o.attacks.includes('non-reader')) {
    const nr = r.nonReader;
    const perCheck = (o.nonReader.batch * o.bigAnswerBytes * (o.heartbeatMs / 2)) / o.nonReader.everyMs;
    const queuedBound = o.maxOutputBytes + perCheck + MB;
    check(nr !== undefined && nr.disconnectedAfterMs !== null, 'the non-reader was not disconnected');
    if (nr?.disconnectedAfterMs != null) check(nr.disconnectedAfterMs <= 1.5 * o.heartbeatMs + 500, `the non-reader was dropped ${nr.disconnectedAfterMs} ms after its hello (bound ${1.5 * o.heartbeatMs + 500} ms)`);
    if (nr) check(nr.peakQueuedBytes <= queuedBound, `the non-reader's unread output reached ${nr.peakQueuedBytes} bytes (bound ${Math.round(queuedBound)})`);
    check(r.bus.slowConsumers >= 1, 'no slow-consumer event');
  }
  if (o.attacks.includes('flood')) {
    const f = r.flood;
    check(f !== undefined && f.sent > 0, 'the slow flood sent nothing');
    if (f) {
      check(f.maxServing <= o.maxInFlight, `the slow flood had ${f.maxServing} requests in service (maxInFlight ${o.maxInFlight})`);
      check(f.lost === 0 && f.errors === 0, `the slow flood lost ${f.lost} requests, ${f.errors} failed`);
    }
  }
  if (o.attacks.includes('echo-flood')) {
    const f = r.echoFlood;
    check(f !== undefined && f.sent > 0 && f.answered === f.sent && f.errors === 0, `the echo flood: ${JSON.stringify(f)}`);
  }
  if (o.attacks.includes('huge')) {
    const h = r.huge;
    check(h !== undefined && h.frames === 2 * o.hugeFrames && h.tooLarge === h.frames && h.afterOk === h.frames, `huge frames: ${JSON.stringify(h)}`);
  }
  if (o.attacks.includes('silent')) {
    const si = r.silent;
    check(si !== undefined && si.dropped === si.connections, `connections without hello: ${JSON.stringify(si)}`);
    if (si) check(si.dropMs.min >= 2 * o.heartbeatMs - 50 && si.dropMs.max <= 2.5 * o.heartbeatMs + 1000, `connections without hello dropped after ${si.dropMs.min} to ${si.dropMs.max} ms (heartbeat ${o.heartbeatMs} ms)`);
  }
  if (o.attacks.includes('garbage')) {
    const g = r.garbage;
    check(g !== undefined && g.droppedByBus >= 1 && g.connections >= 2, `garbage: ${JSON.stringify(g)}`);
  }
  check(r.bus.peersLeft === 0, `${r.bus.peersLeft} hostile peer(s) still in the bus's table`);
  for (const p of r.childProblems) v.push(`hostile peer: ${p}`);
  return v;
}

// ---- the hostile peers (plain JavaScript, run with `node -e` in child processes) -------------------------

const CHILD = String.raw`
const net = require('node:net');
const P = JSON.parse(process.env.HOSTILE_PARAMS);
const SOCK = process.env.HOSTILE_SOCK;
const TOKEN = process.env.HOSTILE_TOKEN;
let stopping = false;
let onStop = () => report({});
process.on('message', (m) => { if (m === 'stop' && !stopping) { stopping = true; onStop(); } });
process.on('disconnect', () => process.exit(0));
// The report is the last word; the parent then kills the process (exiting here could let the parent
// see the exit before the message).
function report(figures) { process.send({ type: 'report', figures }); }
function dialOnce() { return new Promise((resolve, reject) => { const s = net.connect(SOCK); s.once('connect', () => resolve(s)); s.once('error', reject); s.on('error', () => {}); }); }
/** Connects, retrying a few times (a busy kernel may leave its accept queue full for a moment). */
async function dial() {
  for (let attempt = 0; ; attempt++) {
    try { return await dialOnce(); } catch (err) { if (attempt >= 20 || stopping) throw err; await new Promise((r) => setTimeout(r, 25)); }
  }
}
function write(s, data) {
  if (s.destroyed) return Promise.resolve();
  if (s.write(data)) return Promise.resolve();
  return new Promise((r) => {
    const done = () => { s.off('drain', done); s.off('close', done); r(); };
    s.on('drain', done);
    s.on('close', done);
  });
}
function ndjson(s, onMessage) {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) { try { onMessage(JSON.parse(line)); } catch {} }
    }
  });
}
function lsp(s, onMessage) {
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.toString('latin1', 0, end));
      const n = Number(m[1]);
      if (buf.length < end + 4 + n) return;
      onMessage(JSON.parse(buf.toString('utf8', end + 4, end + 4 + n)));
      buf = buf.subarray(end + 4 + n);
    }
  });
}
const helloLine = (name) => JSON.stringify({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: name, token: TOKEN } }) + '\n';
/** Writes a frame now, or after the frame being written (s.busy) is complete: never inside it. */
function between(s, data) {
  if (s.busy) (s.held = s.held || []).push(data);
  else s.write(data);
}
function release(s) {
  s.busy = false;
  for (const d of (s.held || []).splice(0)) s.write(d);
}
/** Connects, says hello (NDJSON), answers the bus's pings; resolves once the hello is answered. */
async function peer(name, onMessage) {
  const s = await dial();
  return new Promise((resolve, reject) => {
    ndjson(s, (m) => {
      if (m.id === 'hello') return m.result ? resolve(s) : reject(new Error(JSON.stringify(m)));
      if (m.method === 'symphony.ping') return between(s, JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {} }) + '\n');
      onMessage(m);
    });
    s.write(helloLine(name));
  });
}
// xorshift32: garbage that is the same on every run of a seed.
let seed = (P.seed >>> 0) || 1;
function random() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; }

const roles = {
  // (a) Says hello, then stops reading and asks for big answers, batch after batch.
  async 'non-reader'() {
    const s = await dial();
    let n = 0;
    await new Promise((resolve) => {
      let buf = '';
      const onData = (d) => { buf += d; if (buf.includes('\n')) { s.off('data', onData); s.pause(); resolve(); } };
      s.setEncoding('utf8');
      s.on('data', onData);
      s.write(helloLine('non-reader'));
    });
    process.send({ type: 'ready' });
    const batch = () => {
      if (s.destroyed) return;
      let out = '';
      for (let i = 0; i < P.nonReader.batch; i++) out += JSON.stringify({ jsonrpc: '2.0', id: ++n, method: 'kernel.big' }) + '\n';
      s.write(out);
    };
    batch();
    const timer = setInterval(batch, P.nonReader.everyMs);
    onStop = () => { clearInterval(timer); s.destroy(); report({ requests: n }); };
  },

  // (b) Pipelined requests to a slow method, as fast as the bus takes them: flow control must hold it.
  async flood() {
    const st = { sent: 0, answered: 0, errors: 0 };
    const s = await peer('flood', (m) => { if (m.id !== undefined && m.id !== null) { st.answered++; if (m.error) st.errors++; } });
    process.send({ type: 'ready' });
    (async () => {
      while (!stopping && !s.destroyed) {
        let out = '';
        for (let i = 0; i < 256; i++) out += '{"jsonrpc":"2.0","id":' + (++st.sent) + ',"method":"kernel.slow","params":' + st.sent + '}\n';
        await write(s, out);
      }
    })();
    onStop = async () => {
      // Everything sent is answered (flow control delays, never drops): wait for it, a bounded time.
      const end = Date.now() + 15000;
      while (Date.now() < end && st.answered < st.sent) await new Promise((r) => setTimeout(r, 10));
      s.destroy();
      report(st);
    };
  },

  // (b') Pipelined cheap requests (echo, answered at once: flow control never engages), keeping
  // up to P.echoWindow outstanding.
  async 'echo-flood'() {
    const st = { sent: 0, answered: 0, errors: 0 };
    const s = await peer('echo-flood', (m) => { if (m.id !== undefined && m.id !== null) { st.answered++; if (m.error) st.errors++; } });
    process.send({ type: 'ready' });
    (async () => {
      while (!stopping && !s.destroyed) {
        let out = '';
        for (let i = 0; i < 64; i++) out += '{"jsonrpc":"2.0","id":' + (++st.sent) + ',"method":"kernel.echo","params":' + st.sent + '}\n';
        await write(s, out);
        while (!stopping && st.sent - st.answered >= P.echoWindow) await new Promise((r) => setImmediate(r));
      }
    })();
    onStop = async () => {
      const end = Date.now() + 15000;
      while (Date.now() < end && st.answered < st.sent) await new Promise((r) => setTimeout(r, 10));
      s.destroy();
      report(st);
    };
  },

  // (c) Huge frames, NDJSON and Content-Length, each followed by a small request that must be answered.
  async huge() {
    const CHUNK = Buffer.alloc(1 << 20, 0x78);
    const figures = { frames: 0, bytes: 0, tooLarge: 0, afterOk: 0, ms: 0, errors: [] };
    const answers = new Map();
    let dropped = '';
    // An answer, or the connection's end (the bus may drop a peer whose frame outlasts 2x heartbeat).
    const waitFor = (id, s) => new Promise((resolve) => {
      const t = setInterval(() => {
        if (answers.has(id) || s.destroyed) { clearInterval(t); resolve(answers.get(id) || { dropped: true }); }
      }, 5);
    });
    const onMessage = (m) => {
      if (m.method === 'symphony.ping') return;
      if (m.id !== undefined) answers.set(m.id, m);
    };
    const nd = await peer('huge-ndjson', onMessage);
    // Content-Length from the first byte: hello in that framing too.
    const cl = await dial();
    const clFrame = (obj) => { const j = JSON.stringify(obj); return 'Content-Length: ' + Buffer.byteLength(j) + '\r\n\r\n' + j; };
    const clSend = (obj) => write(cl, clFrame(obj));
    await new Promise((resolve) => {
      lsp(cl, (m) => {
        if (m.id === 'hello') return resolve();
        if (m.method === 'symphony.ping') return between(cl, clFrame({ jsonrpc: '2.0', id: m.id, result: {} }));
        onMessage(m);
      });
      clSend({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: 'huge-lsp', token: TOKEN } });
    });
    process.send({ type: 'ready' });
    const t0 = Date.now();
    for (let i = 0; i < P.hugeFrames && !stopping; i++) {
      for (const [s, framing] of [[nd, 'ndjson'], [cl, 'content-length']]) {
        const id = 'huge-' + framing + '-' + i;
        const head = '{"jsonrpc":"2.0","id":"' + id + '","method":"kernel.echo","params":"';
        const tail = '"}';
        // Pings that come meanwhile are answered after the frame (the bus cannot read them sooner anyway).
        s.busy = true;
        if (framing === 'content-length') await write(s, 'Content-Length: ' + (head.length + P.hugeFrameBytes + tail.length) + '\r\n\r\n');
        await write(s, head);
        for (let sent = 0; sent < P.hugeFrameBytes; sent += CHUNK.length) await write(s, sent + CHUNK.length <= P.hugeFrameBytes ? CHUNK : CHUNK.subarray(0, P.hugeFrameBytes - sent));
        await write(s, framing === 'ndjson' ? tail + '\n' : tail);
        release(s);
        const after = { jsonrpc: '2.0', id: 'after-' + id, method: 'kernel.echo', params: 'after' };
        if (framing === 'ndjson') await write(s, JSON.stringify(after) + '\n');
        else await clSend(after);
        figures.frames++;
        figures.bytes += P.hugeFrameBytes;
        const big = await waitFor(id, s);
        if (big.error && big.error.code === -32006) figures.tooLarge++;
        else figures.errors.push(id + ': ' + JSON.stringify(big).slice(0, 200) + ' after ' + (Date.now() - t0) + 'ms');
        const small = await waitFor('after-' + id, s);
        if (small.result && small.result === 'after') figures.afterOk++;
        else figures.errors.push('after-' + id + ': ' + JSON.stringify(small).slice(0, 200));
        if (s.destroyed) break;
      }
      if (nd.destroyed || cl.destroyed) break;
    }
    figures.ms = Date.now() - t0;
    process.send({ type: 'done', figures });
    onStop = () => { nd.destroy(); cl.destroy(); report(figures); };
  },

  // (d) Connections that never say hello: silent, half a hello line, one byte of a line at a time.
  async silent() {
    const drops = [];
    const sockets = [];
    const n = P.silentPeers;
    for (let i = 0; i < n; i++) {
      const s = await dial();
      const t0 = Date.now();
      sockets.push(s);
      s.on('close', () => drops.push(Date.now() - t0));
      s.resume();
      if (i % 3 === 1) s.write('{"jsonrpc":"2.0","id":1,"method":"symphony.hel');
      if (i % 3 === 2) {
        const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), 20);
      }
    }
    process.send({ type: 'ready' });
    const finish = () => report({ connections: n, dropped: drops.length, dropMs: { min: Math.min(...drops), max: Math.max(...drops) } });
    const t = setInterval(() => { if (drops.length === n) { clearInterval(t); process.send({ type: 'done', figures: { connections: n, dropped: n, dropMs: { min: Math.min(...drops), max: Math.max(...drops) } } }); } }, 10);
    onStop = () => { for (const s of sockets) s.destroy(); finish(); };
  },

  // (e) Random bytes, before hello and after it; reconnects each time the bus drops the connection.
  async garbage() {
    const figures = { connections: 0, bytes: 0, errorAnswers: 0, droppedByBus: 0 };
    onStop = () => {}; // the loop below reports once it sees stopping
    process.send({ type: 'ready' });
    const chunk = () => { const b = Buffer.allocUnsafe(4096); for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(random(), i); return b; };
    while (!stopping) {
      let s;
      try {
        s = figures.connections % 2 ? await peer('garbage', (m) => { if (m.error) figures.errorAnswers++; }) : await dial();
      } catch { continue; }
      figures.connections++;
      if (!(figures.connections % 2)) ndjson(s, (m) => { if (m.error) figures.errorAnswers++; });
      let closed = false;
      s.on('close', () => { closed = true; });
      while (!stopping && !closed) {
        // P.garbageBytesPer10ms: 0 for as fast as the socket takes it.
        for (let sent = 0; sent < (P.garbageBytesPer10ms || 4096); sent += 4096) {
          const b = chunk();
          figures.bytes += b.length;
          await write(s, b);
        }
        await new Promise((r) => (P.garbageBytesPer10ms ? setTimeout(r, 10) : setImmediate(r)));
      }
      if (closed && !stopping) figures.droppedByBus++;
      s.destroy();
    }
    report(figures);
  },
};
roles[process.env.HOSTILE_ROLE]().catch((err) => process.send({ type: 'error', error: String((err && err.stack) || err) })); // the parent kills it
`;

interface Child {
  role: Attack;
  proc: ChildProcess;
  ready: Promise<void>;
  /** The figures a role reports on its own when it is done (huge, silent), before the stop. */
  done: Promise<Record<string, any>>;
  report: Promise<Record<string, any>>;
}

function spawnHostile(role: Attack, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['-e', CHILD], { env: { ...env, HOSTILE_ROLE: role }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let ready!: () => void;
  let done!: (f: Record<string, any>) => void;
  let report!: (f: Record<string, any>) => void;
  const child: Child = {
    role,
    proc,
    ready: new Promise((r) => (ready = r)),
    done: new Promise((r) => (done = r)),
    report: new Promise((r) => (report = r)),
  };
  proc.on('message', (m: { type: string; figures?: Record<string, any>; error?: string }) => {
    if (m.type === 'ready') ready();
    else if (m.type === 'done') done(m.figures!);
    else if (m.type === 'report') report(m.figures!);
    else if (m.type === 'error') {
      const f = { error: m.error };
      ready();
      done(f);
      report(f);
    }
  });
  proc.on('exit', (code, signal) => {
    const f = { exited: `code ${code}, signal ${signal}` };
    ready();
    done(f);
    report(f);
  });
  return child;
}

// ---- the kernel side -------------------------------------------------------------------------------------

let gcFn: (() => void) | undefined;
function forceGc(): void {
  if (!gcFn) {
    gcFn = (globalThis as { gc?: () => void }).gc;
    if (!gcFn) {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

const MB = 1024 * 1024;
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function latencyOf(samples: number[], errors: number): Latency {
  const sorted = Float64Array.from(samples).sort();
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : 0);
  return { count: sorted.length, p50Ms: round(q(0.5), 3), p90Ms: round(q(0.9), 3), p99Ms: round(q(0.99), 3), maxMs: round(sorted.at(-1) ?? 0, 3), errors };
}

/** The well-behaved peer: request/reply in a loop until `until()` says stop. */
async function measure(client: BusClient, until: () => boolean): Promise<Latency> {
  const samples: number[] = [];
  let errors = 0;
  let i = 0;
  while (!until()) {
    const t0 = performance.now();
    try {
      await client.request('kernel.echo', { i: i++, text: 'the quick brown fox' }, { timeout: 5000 });
      samples.push(performance.now() - t0);
    } catch {
      errors++;
    }
  }
  return latencyOf(samples, errors);
}

/**
 * Runs the scenario and returns its figures. Nothing is asserted here: hostile.test.ts (short
 * form) and the soak (long form) judge them.
 */
export async function hostilePeers(options: HostileOptions = {}): Promise<HostileResult> {
  const t0 = performance.now();
  const o: HostileResult['options'] = {
    quietMs: options.quietMs ?? 1000,
    attackMs: options.attackMs ?? 4000,
    hugeFrameBytes: options.hugeFrameBytes ?? 100 * MB,
    hugeFrames: options.hugeFrames ?? 1,
    silentPeers: options.silentPeers ?? 24,
    heartbeatMs: options.heartbeatMs ?? 3000,
    maxOutputBytes: options.maxOutputBytes ?? 4 * MB,
    maxInFlight: options.maxInFlight ?? 32,
    bigAnswerBytes: options.bigAnswerBytes ?? 256 * 1024,
    nonReader: options.nonReader ?? { batch: 1, everyMs: 40 },
    echoWindow: options.echoWindow ?? 256,
    garbageBytesPer10ms: options.garbageBytesPer10ms ?? 64 * 1024,
    attacks: options.attacks ?? ['non-reader', 'flood', 'echo-flood', 'huge', 'silent', 'garbage'],
    seed: options.seed ?? 7,
  };
  const bus = new Bus({ heartbeat: o.heartbeatMs, maxOutputBytes: o.maxOutputBytes, maxInFlight: o.maxInFlight });
  const token = bus.issueToken('operator', undefined, { operator: true });
  const { path } = await bus.listen();
  const big = 'b'.repeat(o.bigAnswerBytes);
  bus.handle('kernel.echo', (p: unknown) => p);
  bus.handle('kernel.big', () => big);
  bus.handle('kernel.slow', (p: unknown) => new Promise((r) => setTimeout(() => r(p), 2)));
  const events = { protocolErrors: 0, slowConsumers: 0, hellosRefused: 0 };
  let nonReaderHello: number | undefined;
  let nonReaderGone: { at: number; reason: string } | undefined;
  const onEvent = (e: BusEvent) => {
    if (e.type === 'protocol-error') events.protocolErrors++;
    else if (e.type === 'denied' && e.action === 'hello') events.hellosRefused++;
    else if (e.type === 'slow-consumer') events.slowConsumers++;
    if (e.type === 'peer' && e.peer === 'non-reader') {
      if (e.state === 'connected') nonReaderHello = performance.now();
      if (e.state === 'gone' && !nonReaderGone) nonReaderGone = { at: performance.now(), reason: e.reason ?? '' };
    }
  };
  bus.onEvent(onEvent);

  const children: Child[] = [];
  let client: BusClient | undefined;
  try {
    client = await connect({ path, token, name: 'good', reconnect: false });
    // Warm up (JIT, buffers), then the quiet figures.
    for (let i = 0; i < 300; i++) await client.request('kernel.echo', i);
    let end = performance.now() + o.quietMs;
    const quiet = await measure(client, () => performance.now() > end);

    forceGc();
    const base = process.memoryUsage();
    const peak = { rss: base.rss, heap: base.heapUsed, external: base.external + base.arrayBuffers, samples: 0 };
    let peakQueued = 0;
    let maxServing = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak.rss = Math.max(peak.rss, m.rss);
      peak.heap = Math.max(peak.heap, m.heapUsed);
      peak.external = Math.max(peak.external, m.external + m.arrayBuffers);
      peak.samples++;
      for (const p of bus.stats().peers) {
        if (p.name === 'non-reader') peakQueued = Math.max(peakQueued, p.queuedBytes);
        if (p.name === 'flood') maxServing = Math.max(maxServing, p.serving);
      }
    }, 10);

    const env = { ...process.env, HOSTILE_SOCK: path, HOSTILE_TOKEN: token, HOSTILE_PARAMS: JSON.stringify({ ...o }) } as Record<string, string>;
    for (const role of o.attacks) children.push(spawnHostile(role, env));
    await Promise.all(children.map((c) => c.ready));
    // The attack lasts attackMs, and at least until the huge frames are through and the peers
    // without hello dropped (they report it), within a bounded time: the good peer measures it all.
    const attackStart = performance.now();
    end = attackStart + o.attackMs;
    const byRole = (r: Attack) => children.find((c) => c.role === r);
    let finished = false;
    void Promise.race([Promise.all([byRole('huge')?.done, byRole('silent')?.done]), delay(o.attackMs + 30_000)]).then(() => (finished = true));
    const attack = await measure(client, () => finished && performance.now() > end);
    const attackEnd = performance.now();
    for (const c of children) c.proc.send('stop');
    const reports = new Map<Attack, Record<string, any>>();
    await Promise.all(children.map(async (c) => reports.set(c.role, await Promise.race([c.report, delay(20_000).then(() => ({ timedOut: true }))]))));
    clearInterval(sampler);
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.proc.exitCode === null && c.proc.signalCode === null ? new Promise((r) => c.proc.once('exit', r)) : undefined)));

    // After: the hostile peers are gone; the bus should be back where it was.
    await delay(Math.min(2000, o.heartbeatMs * 3));
    forceGc();
    end = performance.now() + o.quietMs;
    const after = await measure(client, () => performance.now() > end);
    forceGc();
    const fin = process.memoryUsage();

    const stats = bus.stats();
    const result: Omit<HostileResult, 'violations' | 'ok'> & Partial<HostileResult> = {
      options: o,
      latency: { quiet, attack, after },
      memory: {
        baselineRssMb: round(base.rss / MB),
        peakRssMb: round(peak.rss / MB),
        afterRssMb: round(fin.rss / MB),
        baselineHeapMb: round(base.heapUsed / MB),
        peakHeapMb: round(peak.heap / MB),
        afterHeapMb: round(fin.heapUsed / MB),
        peakExternalMb: round(peak.external / MB),
        samples: peak.samples,
      },
      bus: { ...events, peersLeft: stats.peers.filter((p) => p.kind === 'remote' && p.name !== 'good').length },
      childProblems: [...reports]
        .filter(([, f]) => f.error || f.exited || f.timedOut || !Object.keys(f).length)
        .map(([role, f]) => `${role}: ${f.error ?? (f.exited ? `exited (${f.exited})` : f.timedOut ? 'no report in time' : 'stopped before it had figures')}`.slice(0, 600)),
      bounds: HOSTILE_BOUNDS,
      ms: 0,
    };
    const nr = reports.get('non-reader');
    if (nr) result.nonReader = { requests: nr.requests ?? 0, disconnectedAfterMs: nonReaderGone && nonReaderHello !== undefined ? Math.round(nonReaderGone.at - nonReaderHello) : null, peakQueuedBytes: peakQueued, reason: nonReaderGone?.reason };
    const fl = reports.get('flood');
    if (fl && 'sent' in fl) result.flood = { sent: fl.sent, answered: fl.answered, errors: fl.errors, maxServing, lost: fl.sent - fl.answered };
    const ef = reports.get('echo-flood');
    if (ef && 'sent' in ef) result.echoFlood = { sent: ef.sent, answered: ef.answered, errors: ef.errors, perSecond: Math.round(ef.answered / ((attackEnd - attackStart) / 1000)) };
    const hg = reports.get('huge');
    if (hg && 'frames' in hg) result.huge = { frames: hg.frames, bytes: hg.bytes, tooLarge: hg.tooLarge, afterOk: hg.afterOk, mbPerSecond: round(hg.bytes / MB / (Math.max(1, hg.ms) / 1000)), errors: hg.errors };
    const si = reports.get('silent');
    if (si && 'connections' in si) result.silent = { connections: si.connections, dropped: si.dropped, dropMs: si.dropMs };
    const ga = reports.get('garbage');
    if (ga && 'connections' in ga) result.garbage = { connections: ga.connections, bytes: ga.bytes, errorAnswers: ga.errorAnswers, droppedByBus: ga.droppedByBus };
    result.ms = Math.round(performance.now() - t0);
    const violations = judge(result);
    return { ...result, violations, ok: violations.length === 0 };
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await client?.stop().catch(() => {});
    await bus.stop();
  }
}

// ---- a kernel in a child process, for what would take the test process down --------------------------------

export interface BurstResult {
  /** Every answer arrived and the kernel process is still alive. */
  survived: boolean;
  exitCode: number | null;
  answers: number;
  /** The end of the kernel's stderr (its last words). */
  stderr: string;
  requests: number;
  answerBytes: number;
  ms: number;
}

/** tsx's loader, by absolute path (for `node --import`, wherever the test runs from). */
function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('tsx/package.json');
  return join(dirname(pkg), (require('tsx/package.json') as { exports: { '.': string } }).exports['.']);
}

/**
 * A kernel (a Bus on a Unix socket) in a child process serving `kernel.big` (answers of
 * `answerBytes`); a raw peer says hello, writes `requests` requests for it in one write, and reads
 * everything. Returns whether the kernel survived. Answers under maxFrameBytes, a peer that reads:
 * nothing here is hostile but the arithmetic.
 */
export async function burstOfBigAnswers(options: { requests?: number; answerBytes?: number; waitMs?: number } = {}): Promise<BurstResult> {
  const t0 = performance.now();
  const requests = options.requests ?? 560;
  const answerBytes = options.answerBytes ?? 1_000_000;
  const code = `
    const { Bus } = await import(${JSON.stringify(pathToFileURL(fileURLToPath(new URL('../../src/bus/index.ts', import.meta.url))).href)});
    const bus = new Bus();
    const token = bus.issueToken('operator', undefined, { operator: true });
    const { path } = await bus.listen();
    const big = 'b'.repeat(${answerBytes});
    bus.handle('kernel.big', () => big);
    bus.handle('kernel.echo', (p) => p);
    process.send({ path, token });
  `;
  const kernel = spawn(process.execPath, ['--import', tsxLoader(), '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  kernel.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((r) => kernel.once('exit', (code) => r(code)));
  let socketDir: string | undefined;
  try {
    const { path, token } = await new Promise<{ path: string; token: string }>((resolve, reject) => {
      kernel.once('message', resolve as (m: unknown) => void);
      kernel.once('exit', (c) => reject(new Error(`the kernel exited (${c}) before listening: ${stderr}`)));
    });
    socketDir = dirname(path);
    const socket = netConnect(path);
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => {});
    // Reads (and drops) everything, counting the answers (one line each).
    let lines = 0;
    let allAnswered!: () => void;
    const answered = new Promise<'answered'>((r) => (allAnswered = () => r('answered')));
    socket.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
      if (lines >= requests + 1) allAnswered();
    });
    socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, peer: 'burst', token } })}\n`);
    let burst = '';
    for (let i = 0; i < requests; i++) burst += `${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'kernel.big' })}\n`;
    socket.write(burst);
    // Survived: every answer arrived (plus the hello's) and the kernel is still there.
    const outcome = await Promise.race([exited, answered, delay(options.waitMs ?? 60_000).then(() => 'timeout' as const)]);
    socket.destroy();
    const alive = outcome === 'answered' || outcome === 'timeout';
    return { survived: outcome === 'answered', exitCode: alive ? null : outcome, answers: Math.max(0, lines - 1), stderr: stderr.trim().split('\n').slice(-8).join('\n'), requests, answerBytes, ms: Math.round(performance.now() - t0) };
  } finally {
    if (kernel.exitCode === null && kernel.signalCode === null) {
      kernel.kill('SIGKILL');
      await exited;
    }
    // A kernel that died did not remove its socket's private directory.
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  }
}
