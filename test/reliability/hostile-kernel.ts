/**
 * Hostile peers against a REAL system: `symphony up` in a child process under a file-descriptor
 * limit (prlimit), with an isolated extension (test/fixtures/wire/stderr-peer), attacked at once by
 * peers in several client processes:
 *
 * - silent: connections that never say hello, opened from three processes up to several times the
 *   kernel's descriptor limit, reopened as fast as the kernel closes them;
 * - flood: pipelined pings and calls to the extension, a window of 512 kept full;
 * - never-reader: calls for 256 KiB answers, never reading them (the bus stops reading it, then
 *   drops it as a slow consumer; it comes back and does it again);
 * - nesting: requests, notifications and publishes whose params nest 100,000 deep, and such
 *   frames before hello;
 * - stderr: the extension made to write floods to its stderr (8 MB lines without a newline until
 *   their end, bursts of short lines with forged kernel lines in them) for the log relay.
 *
 * A well-behaved peer (a raw NDJSON client in this process) measures its round trips: a ping
 * (the kernel alone) and a call to a well-behaved server (through the kernel to another peer and
 * back), before the attack, under it, and after. Under attack the kernel must also still restart
 * the extension (a spawn needs descriptors: pipes) and accept and serve a new client. The kernel's
 * RSS and descriptors are sampled throughout. hostileKernel() returns the figures and judges them
 * against HOSTILE_KERNEL_BOUNDS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { delay, fdCount, RawPeer, rssOf, startSystemKernel, wireFixtures, type ChildKernel } from '../bus/wire-harness.js';

const MB = 1024 * 1024;

export interface HostileKernelOptions {
  /** The kernel's descriptor limit (default 2048). */
  nofile?: number;
  /** Measurement before and after the attack (default 2000 ms each), and the attack (default 8000 ms). */
  quietMs?: number;
  attackMs?: number;
  /** Connections each of the three silent processes tries to hold (default 3x nofile / 3 each: 3x the limit in all). */
  silentPerProcess?: number;
  /** Which attacks run (default all). */
  attacks?: HostileKernelAttack[];
  /** `builtin:bus` settings for the kernel (to try it with a protection turned off). */
  bus?: Record<string, unknown>;
}

export type HostileKernelAttack = 'silent' | 'flood' | 'never-reader' | 'nesting' | 'stderr';
export const HOSTILE_KERNEL_ATTACKS: readonly HostileKernelAttack[] = ['silent', 'flood', 'never-reader', 'nesting', 'stderr'];

export interface RoundTrips {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

export interface HostileKernelResult {
  nofile: number;
  attacks: HostileKernelAttack[];
  good: { quiet: { ping: RoundTrips; call: RoundTrips }; attack: { ping: RoundTrips; call: RoundTrips }; after: { ping: RoundTrips; call: RoundTrips } };
  kernel: { alive: boolean; obituary: string; rssMb: { baseline: number; peak: number; after: number }; fds: { baseline: number; peak: number; after: number; limit: number }; cpuPercentUnderAttack: number };
  /** Under attack: the extension restarted after a crash (ms from the crash to its new instance answering), a new client served (ms from its first try). */
  restartMs: number | null;
  newClientMs: number | null;
  attackers: Record<string, unknown>;
  violations: string[];
  ok: boolean;
  ms: number;
}

/**
 * What hostileKernel() holds the kernel to (a busy, shared 2-core machine; six attacker processes
 * and the kernel on two cores):
 * - the good peer's p99 under attack below 1 s for a ping and for a call, and no error (seen:
 *   200 to 420 ms in 3 s attacks, 855 ms once over 30 s with a fuzzer running beside it; the
 *   kernel then got 10% of a core: the attackers are processes on the same two cores, and the
 *   wait is the scheduler's, not work the kernel does for them; each attack alone: p99 3 to 52 ms);
 * - the kernel alive throughout, its descriptors below its limit, its RSS at most +384 MB over
 *   its baseline during the attack;
 * - under attack, a crashed extension restarted within 10 s and a new client served within 20 s
 *   (1 ms to 11 s seen: a newcomer waits for a place in the accept queue the silent processes
 *   keep full; it gets EAGAIN and retries, as a stock client would);
 * - the attack real: the silent processes tried 3x the kernel's descriptors, and half its limit got in.
 */
export const HOSTILE_KERNEL_BOUNDS = { attackP99Ms: 1000, rssGrowthMb: 384, restartMs: 10_000, newClientMs: 20_000 } as const;

// ---- the attackers (plain JavaScript, `node -e`, one process each) -------------------------------------

const ATTACKER = String.raw`
const net = require('node:net');
const SOCK = process.env.SOCK, TOKEN = process.env.TOKEN, ROLE = process.env.ROLE, N = Number(process.env.N || 0);
let stopping = false;
const fig = {};
process.on('message', (m) => { if (m === 'stop') { stopping = true; process.send({ type: 'report', figures: fig }); } });
process.on('disconnect', () => process.exit(0));
const hello = (name) => JSON.stringify({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: name, token: TOKEN } }) + '\n';
function dialOnce() { return new Promise((resolve, reject) => { const s = net.connect(SOCK); s.once('connect', () => resolve(s)); s.once('error', reject); s.on('error', () => {}); }); }
/** Connects, retrying while the kernel's accept queue is full (EAGAIN: the silent attackers fill it). */
async function dial() {
  for (let attempt = 0; ; attempt++) {
    try { return await dialOnce(); } catch (err) { if (attempt >= 500 || stopping) throw err; await new Promise((r) => setTimeout(r, 10)); }
  }
}
/** Says hello; onMessage gets every frame after it (pings answered here unless reading stops). */
async function peer(name, onMessage) {
  const s = await dial();
  let buf = '';
  s.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    s.on('close', () => reject(new Error('closed before hello')));
    s.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        let m; try { m = JSON.parse(line); } catch { continue; }
        if (m.id === 'hello') { m.result ? resolve(s) : reject(new Error(line)); continue; }
        if (m.method === 'symphony.ping' && m.id !== undefined) { s.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {} }) + '\n'); continue; }
        onMessage && onMessage(m, s);
      }
    });
    s.write(hello(name));
  });
}
const roles = {
  // Connections that never say hello: as many as N, reopened as the kernel closes them.
  async silent() {
    Object.assign(fig, { opened: 0, failed: 0, closedByKernel: 0, open: 0, maxOpen: 0 });
    const one = () => {
      if (stopping) return;
      const s = net.connect(SOCK);
      let connected = false;
      s.on('connect', () => { connected = true; fig.opened++; fig.open++; fig.maxOpen = Math.max(fig.maxOpen, fig.open); });
      s.on('error', () => {});
      s.on('close', () => {
        if (connected) { fig.open--; fig.closedByKernel++; } else fig.failed++;
        setTimeout(one, 20);
      });
    };
    for (let made = 0; made < N && !stopping; ) {
      for (let i = 0; i < 200 && made < N; i++, made++) one();
      await new Promise((r) => setTimeout(r, 10));
    }
  },
  // Pipelined pings and calls to the extension, a window of 512 kept full.
  async flood() {
    Object.assign(fig, { sent: 0, answered: 0, errors: 0 });
    for (;;) {
      if (stopping) return;
      let s;
      try {
        s = await peer('flood', (m) => { if (m.id !== undefined) { fig.answered++; if (m.error) fig.errors++; refill(); } });
      } catch { await new Promise((r) => setTimeout(r, 100)); continue; }
      let n = 0, inflight = 0;
      function refill() {
        inflight = Math.max(0, inflight - 1);
        let out = '';
        while (inflight < 512) { inflight++; fig.sent++; out += JSON.stringify({ jsonrpc: '2.0', id: ++n, method: n % 2 ? 'symphony.ping' : 'wirefix.pid' }) + '\n'; }
        if (out && !s.destroyed) s.write(out);
      }
      inflight = 1; refill();
      await new Promise((r) => s.once('close', r));
    }
  },
  // Serves hk.big (256 KiB answers) on one connection; calls it on another and never reads.
  async 'never-reader'() {
    Object.assign(fig, { requests: 0, dropped: 0 });
    const big = JSON.stringify('b'.repeat(256 * 1024));
    await peer('big-server', (m, s) => { if (m.method === 'hk.big' && m.id !== undefined) s.write('{"jsonrpc":"2.0","id":' + JSON.stringify(m.id) + ',"result":' + big + '}\n'); }).then((s) => s.write(JSON.stringify({ jsonrpc: '2.0', id: 'reg', method: 'symphony.register', params: { methods: ['hk.big'] } }) + '\n'));
    while (!stopping) {
      let s;
      try { s = await peer('never-reader'); } catch { await new Promise((r) => setTimeout(r, 100)); continue; }
      s.pause();
      let n = 0;
      const t = setInterval(() => {
        let out = '';
        for (let i = 0; i < 64; i++) { fig.requests++; out += JSON.stringify({ jsonrpc: '2.0', id: ++n, method: 'hk.big' }) + '\n'; }
        if (!s.destroyed) s.write(out);
      }, 20);
      await new Promise((r) => s.once('close', r));
      clearInterval(t);
      fig.dropped++;
    }
  },
  // Params nested 100,000 deep, in requests, notifications and publishes; and before hello.
  async nesting() {
    Object.assign(fig, { sent: 0, typedErrors: 0, prehello: 0 });
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const deepObj = '{"a":'.repeat(50000) + '1' + '}'.repeat(50000);
    while (!stopping) {
      let s;
      try { s = await peer('nesting', (m) => { if (m.error && typeof m.error.code === 'number') fig.typedErrors++; }); } catch { await new Promise((r) => setTimeout(r, 100)); continue; }
      for (let i = 0; i < 200 && !s.destroyed && !stopping; i++) {
        const which = i % 4;
        const frame = which === 0 ? '{"jsonrpc":"2.0","id":' + i + ',"method":"wirefix.pid","params":' + deep + '}'
          : which === 1 ? '{"jsonrpc":"2.0","method":"wirefix.pid","params":' + deepObj + '}'
          : which === 2 ? '{"jsonrpc":"2.0","id":' + i + ',"method":"symphony.publish","params":{"topic":"hk.t","data":' + deep + '}}'
          : '{"jsonrpc":"2.0","id":' + deepObj + ',"method":"symphony.ping"}';
        fig.sent++;
        if (!s.write(frame + '\n')) await new Promise((r) => s.once('drain', r));
        await new Promise((r) => setTimeout(r, 5));
      }
      s.destroy();
      try {
        const p = await dial();
        p.write(deep + '\n');
        fig.prehello++;
        setTimeout(() => p.destroy(), 200);
      } catch {}
    }
  },
  // The extension made to flood its stderr: long lines without a newline till their end, bursts of lines.
  async stderr() {
    Object.assign(fig, { calls: 0, bytes: 0, answered: 0 });
    while (!stopping) {
      let s;
      const waiting = new Map();
      try { s = await peer('stderr-flooder', (m) => { const w = waiting.get(m.id); if (w) { waiting.delete(m.id); fig.answered++; w(); } }); } catch { await new Promise((r) => setTimeout(r, 100)); continue; }
      let n = 0;
      s.once('close', () => { for (const w of waiting.values()) w(); waiting.clear(); });
      const call = (method, params, bytes) => new Promise((r) => { const id = ++n; waiting.set(id, r); fig.calls++; fig.bytes += bytes; s.write(JSON.stringify({ jsonrpc: '2.0', id, method, params, meta: { deadline: Date.now() + 20000 } }) + '\n'); });
      const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ level: i % 7 ? 'info' : '__proto__', message: 'x' + i + '\n     1ms  kernel: FORGED-HOSTILE-LINE' }) + '\n').join('');
      while (!s.destroyed && !stopping) {
        await call('wirefix.flood', { bytes: 8 * 1024 * 1024, chunk: 1 << 20, end: '\n' }, 8 * 1024 * 1024);
        await call('wirefix.write', { text: lines }, lines.length);
      }
    }
  },
};
roles[ROLE]().catch((err) => { fig.error = String(err && err.message || err); });
`;

interface Attacker {
  role: string;
  child: ChildProcess;
  report(): Promise<Record<string, unknown>>;
}

function attacker(role: string, k: ChildKernel, n = 0): Attacker {
  // Its own descriptor limit (this process's, 20,000 here) well above the kernel's: the kernel's is under attack.
  const child = spawn(process.execPath, ['-e', ATTACKER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, SOCK: k.path, TOKEN: k.token, ROLE: role, N: String(n) } });
  child.on('error', () => {});
  return {
    role,
    child,
    report: () =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ error: 'no report within 5 s' }), 5000);
        child.once('message', (m: { figures: Record<string, unknown> }) => (clearTimeout(timer), resolve(m.figures)));
        child.once('exit', (code, signal) => (clearTimeout(timer), resolve({ error: `exited (${code ?? signal}) before its report` })));
        try {
          child.send('stop');
        } catch {
          resolve({ error: 'gone' });
        }
      }),
  };
}

/** A process's CPU time so far (user + system, seconds), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

// ---- the well-behaved peer ---------------------------------------------------------------------------

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const trips = (xs: number[], errors: number): RoundTrips => ({ count: xs.length, p50Ms: round(pct(xs, 50)), p99Ms: round(pct(xs, 99)), maxMs: round(Math.max(0, ...xs)), errors });

/** Round trips for `ms`: a ping, then a call to hk.echo, one after the other (a peer that waits for each answer). */
async function measure(good: RawPeer, ms: number): Promise<{ ping: RoundTrips; call: RoundTrips }> {
  const ping: number[] = [];
  const call: number[] = [];
  let pingErrors = 0;
  let callErrors = 0;
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end && good.open) {
    for (const [method, into] of [['symphony.ping', ping], ['hk.echo', call]] as const) {
      const id = `g${++n}`;
      const t = performance.now();
      good.send({ jsonrpc: '2.0', id, method, params: { n } });
      const f = await good.maybe((x) => x.json?.id === id, 5000);
      if (f?.json?.result !== undefined) into.push(performance.now() - t);
      else if (method === 'symphony.ping') pingErrors++;
      else callErrors++;
    }
  }
  return { ping: trips(ping, pingErrors), call: trips(call, callErrors) };
}

export async function hostileKernel(options: HostileKernelOptions = {}): Promise<HostileKernelResult> {
  const nofile = options.nofile ?? 2048;
  const quietMs = options.quietMs ?? 2000;
  const attackMs = options.attackMs ?? 8000;
  const silentPerProcess = options.silentPerProcess ?? nofile;
  const attacks = options.attacks ?? [...HOSTILE_KERNEL_ATTACKS];
  const t0 = performance.now();
  const k = await startSystemKernel({ extensions: [join(wireFixtures, 'stderr-peer')], nofile, bus: options.bus, orchestra: { restart: { max: 1000, within: '60s' } } });
  const attackers: Attacker[] = [];
  const peers: RawPeer[] = [];
  try {
    // A well-behaved server and the well-behaved caller, both connected before the attack.
    const server = await RawPeer.hello(k.path, k.token, 'hk-echo');
    server.keepFrames = false;
    server.onFrame = (f) => {
      if (f.json?.method === 'hk.echo' && f.json.id !== undefined) server.send({ jsonrpc: '2.0', id: f.json.id, result: f.json.params ?? null });
    };
    await server.register('hk.echo');
    const good = await RawPeer.hello(k.path, k.token, 'good');
    good.keepFrames = false;
    peers.push(server, good);
    const ask = async (method: string, ms = 3000) => {
      const id = `a-${method}-${performance.now()}`;
      good.send({ jsonrpc: '2.0', id, method, meta: { deadline: Date.now() + ms } });
      return (await good.maybe((x) => x.json?.id === id, ms + 500))?.json;
    };
    const pid0 = (await ask('wirefix.pid'))?.result as number | undefined;
    await delay(300);
    const rss = { baseline: rssOf(k.pid) ?? 0, peak: 0, after: 0 };
    const fds = { baseline: fdCount(k.pid) ?? 0, peak: 0, after: 0, limit: nofile };
    const quiet = await measure(good, quietMs);

    // The attack: every attacker at once, the good peer measuring throughout.
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rss.peak = Math.max(rss.peak, rssOf(k.pid) ?? 0);
        fds.peak = Math.max(fds.peak, fdCount(k.pid) ?? 0);
        await delay(100);
      }
    })();
    if (attacks.includes('silent')) for (let i = 0; i < 3; i++) attackers.push(attacker('silent', k, silentPerProcess));
    for (const role of attacks) if (role !== 'silent') attackers.push(attacker(role, k));
    await delay(500); // let the attack build up
    const cpu0 = { cpu: cpuSeconds(k.pid), at: performance.now() };
    const underAttack = await measure(good, attackMs);
    // The kernel's share of a core under attack: near 100 it is busy with the attack's work; far
    // below, the machine's scheduler is what the good peer waits for.
    const cpuPercentUnderAttack = Math.round((100 * (cpuSeconds(k.pid) - cpu0.cpu)) / ((performance.now() - cpu0.at) / 1000));
    // Still under attack: a crashed extension is restarted, and a new client is served.
    let restartMs: number | null = null;
    const crashAt = performance.now();
    await ask('wirefix.crash');
    for (let i = 0; i < 100 && performance.now() - crashAt < HOSTILE_KERNEL_BOUNDS.restartMs && k.alive(); i++) {
      const pid = (await ask('wirefix.pid', 1000))?.result;
      if (typeof pid === 'number' && pid !== pid0) {
        restartMs = Math.round(performance.now() - crashAt);
        break;
      }
      await delay(100);
    }
    let newClientMs: number | null = null;
    const tryAt = performance.now();
    while (newClientMs === null && performance.now() - tryAt < HOSTILE_KERNEL_BOUNDS.newClientMs && k.alive()) {
      const c = await RawPeer.hello(k.path, k.token, 'newcomer').catch(() => undefined);
      if (!c) {
        await delay(100);
        continue;
      }
      peers.push(c);
      c.send({ jsonrpc: '2.0', id: 'n1', method: 'hk.echo', params: 1 });
      if ((await c.maybe((x) => x.json?.id === 'n1', 3000))?.json?.result === 1) newClientMs = Math.round(performance.now() - tryAt);
      c.close();
    }
    const figures: Record<string, unknown> = {};
    const reports = await Promise.all(attackers.map((a) => a.report()));
    attackers.forEach((a, i) => {
      const key = figures[a.role] ? `${a.role}#${i}` : a.role;
      figures[key] = reports[i];
    });
    for (const a of attackers) a.child.kill('SIGKILL');
    sampling = false;
    await sampler;
    await delay(1000);
    const after = await measure(good, quietMs);
    rss.after = rssOf(k.pid) ?? 0;
    fds.after = fdCount(k.pid) ?? 0;
    const alive = k.alive();
    const r: Omit<HostileKernelResult, 'violations' | 'ok'> = {
      nofile,
      attacks,
      good: { quiet, attack: underAttack, after },
      kernel: { alive, obituary: alive ? '' : k.obituary(), rssMb: { baseline: round(rss.baseline / MB, 1), peak: round(rss.peak / MB, 1), after: round(rss.after / MB, 1) }, fds, cpuPercentUnderAttack },
      restartMs,
      newClientMs,
      attackers: figures,
      ms: Math.round(performance.now() - t0),
    };
    const violations = judge(r);
    return { ...r, violations, ok: violations.length === 0 };
  } finally {
    for (const a of attackers) a.child.kill('SIGKILL');
    for (const p of peers) p.close();
    await k.stop();
  }
}

function judge(r: Omit<HostileKernelResult, 'violations' | 'ok'>): string[] {
  const b = HOSTILE_KERNEL_BOUNDS;
  const v: string[] = [];
  const check = (ok: boolean, what: string) => void (ok || v.push(what));
  check(r.kernel.alive, `the kernel died: ${r.kernel.obituary}`);
  for (const phase of ['quiet', 'attack', 'after'] as const) {
    for (const kind of ['ping', 'call'] as const) {
      const t = r.good[phase][kind];
      check(t.errors === 0 && t.count > 0, `the good peer's ${kind}s ${phase}: ${t.count} answered, ${t.errors} unanswered`);
    }
  }
  check(r.good.attack.ping.p99Ms < b.attackP99Ms, `the good peer's ping p99 under attack ${r.good.attack.ping.p99Ms} ms >= ${b.attackP99Ms} ms`);
  check(r.good.attack.call.p99Ms < b.attackP99Ms, `the good peer's call p99 under attack ${r.good.attack.call.p99Ms} ms >= ${b.attackP99Ms} ms`);
  check(r.kernel.fds.peak < r.kernel.fds.limit, `the kernel's descriptors reached ${r.kernel.fds.peak} (limit ${r.kernel.fds.limit})`);
  check(r.kernel.rssMb.peak - r.kernel.rssMb.baseline < b.rssGrowthMb, `the kernel's RSS grew ${round(r.kernel.rssMb.peak - r.kernel.rssMb.baseline, 1)} MB (bound ${b.rssGrowthMb} MB)`);
  check(r.restartMs !== null, 'the crashed extension was not restarted under attack');
  check(r.newClientMs !== null, 'a new client was not served under attack');
  const silent = Object.entries(r.attackers).filter(([role]) => role.startsWith('silent'));
  const silentOpened = silent.reduce((s, [, f]) => s + Number((f as { opened?: number }).opened ?? 0), 0);
  const silentTried = silent.reduce((s, [, f]) => s + Number((f as { opened?: number }).opened ?? 0) + Number((f as { failed?: number }).failed ?? 0), 0);
  // The attack is real: three times the kernel's descriptors tried, and at least half its limit got in.
  if (r.attacks.includes('silent')) check(silentTried > 3 * r.nofile && silentOpened > r.nofile / 2, `the silent processes tried ${silentTried} connections and opened ${silentOpened}: the attack did not reach the kernel's limit of ${r.nofile}`);
  for (const [role, f] of Object.entries(r.attackers)) if ((f as { error?: string }).error) v.push(`attacker ${role}: ${(f as { error: string }).error}`);
  return v;
}

export function describeHostileKernel(r: HostileKernelResult): string {
  const t = (x: RoundTrips) => `p50 ${x.p50Ms} ms, p99 ${x.p99Ms} ms, max ${x.maxMs} ms (${x.count}${x.errors ? `, ${x.errors} unanswered` : ''})`;
  return [
    `hostile peers against a real kernel (${r.attacks.join(', ')}; nofile ${r.nofile}), ${r.ms} ms`,
    ...(['quiet', 'attack', 'after'] as const).map((p) => `  good peer ${p.padEnd(6)}: ping ${t(r.good[p].ping)}; call ${t(r.good[p].call)}`),
    `  kernel: ${r.kernel.alive ? 'alive' : `DEAD: ${r.kernel.obituary.slice(0, 300)}`}; RSS ${r.kernel.rssMb.baseline} -> peak ${r.kernel.rssMb.peak} -> after ${r.kernel.rssMb.after} MB; descriptors ${r.kernel.fds.baseline} -> peak ${r.kernel.fds.peak} -> after ${r.kernel.fds.after} (limit ${r.kernel.fds.limit}); CPU under attack ${r.kernel.cpuPercentUnderAttack}% of a core`,
    `  under attack: extension restarted in ${r.restartMs ?? '—'} ms, a new client served in ${r.newClientMs ?? '—'} ms`,
    `  attackers: ${JSON.stringify(r.attackers)}`,
    `  violations: ${r.violations.length ? r.violations.join('; ') : 'none'}`,
  ].join('\n');
}
