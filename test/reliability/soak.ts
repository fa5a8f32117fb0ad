/**
 * `npm run soak`: the long form of the reliability suite, with a summary table at the end.
 *
 *   npm run soak                       # everything at full size (about an hour on 2 cores)
 *   npm run soak -- --quick            # every part at a tenth of the size
 *   npm run soak -- --only boot,chaos  # some parts (boot, processes, chaos, cluster-chaos, fuzz, decoder, hostile-peers)
 *   npm run soak -- --seed 42
 *
 * Full size: 10,000 boot/stop cycles of the default system in one process and 500 as separate
 * `symphony up --once` processes (seeded faults injected), 3 minutes of chaos, `fuzz`: a real
 * kernel fuzzed over its socket, an extension's stdio and stderr and callee answers (1,000,000
 * inputs; `kernel` is the same part) and `decoder`: the wire decoder fuzzed with 1,000,000 frames,
 * the config loader and the manifest validator fuzzed; and the hostile peers (`hostile-peers`, or
 * `hostile`). Exits 1 if any cycle failed, anything leaked, or any request hung.
 */
import { parseArgs } from 'node:util';
import { bootSoakInProcess, bootSoakProcesses, type SoakResult } from './boot-soak.js';
import { chaos, type ChaosResult } from './chaos.js';
import { fuzzConfig, fuzzDecoder, fuzzManifests } from './fuzz.js';
import { describeKernelFuzz, fuzzKernel } from './fuzz-kernel.js';
import { hostilePeers } from './hostile.js';
import { describeHostileKernel, hostileKernel } from './hostile-kernel.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, seed: { type: 'string' } }, allowPositionals: true });
const scale = values.quick ? 0.1 : 1;
const seed = Number(values.seed ?? 20261124);
// `kernel` and `hostile` are the older names of `fuzz` and `hostile-peers`.
const ALIASES: Record<string, string> = { kernel: 'fuzz', hostile: 'hostile-peers' };
const only = new Set((values.only ?? 'boot,processes,chaos,cluster-chaos,fuzz,decoder,hostile-peers').split(',').map((p) => ALIASES[p] ?? p));
const command = `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim();
const rows: string[][] = [];
let failed = false;

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (v: number) => (Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`) : '—');
const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
const progress = (label: string, total: number) => (i: number) => {
  if ((i + 1) % Math.max(1, Math.floor(total / 20)) === 0) process.stderr.write(`  ${label}: ${i + 1}/${total}\n`);
};

function soakRow(r: SoakResult): void {
  const leaks = r.leaks.length;
  if (r.failures || leaks) failed = true;
  rows.push([
    r.kind === 'in-process' ? 'boot soak, one process' : 'boot soak, `up --once` processes',
    String(r.cycles),
    String(r.failures),
    `${r.recovered} (faults: ${r.faults.transient} transient, ${r.faults.slow} slow, ${r.faults.flap} flaps)`,
    `${ms(pct(r.bootMs, 50))} / ${ms(pct(r.bootMs, 99))}`,
    leaks ? `${leaks} (${r.leaks.slice(0, 2).map((l) => `#${l.cycle}: ${l.what.join(', ')}`).join('; ')})` : '0',
    r.kind === 'in-process' ? mb(r.heapEndBytes - r.heapStartBytes) : '—',
    ms(r.ms),
  ]);
  for (const e of r.errors.slice(0, 5)) process.stderr.write(`  error: ${e}\n`);
}

if (only.has('boot')) {
  const cycles = Math.round(10_000 * scale);
  process.stderr.write(`boot soak in one process: ${cycles} cycles\n`);
  soakRow(await bootSoakInProcess({ cycles, seed, onCycle: progress('in-process', cycles) }));
}
if (only.has('processes')) {
  const cycles = Math.round(500 * scale);
  process.stderr.write(`boot soak as processes: ${cycles} cycles\n`);
  soakRow(await bootSoakProcesses({ cycles, seed, onCycle: progress('processes', cycles) }));
}
let chaosResult: ChaosResult | undefined;
if (only.has('chaos')) {
  const durationMs = Math.round(180_000 * scale);
  process.stderr.write(`chaos: ${durationMs / 1000} s\n`);
  chaosResult = await chaos({ durationMs, seed, killEveryMs: 400 });
  if (chaosResult.requests.hung || chaosResult.requests.untyped || !chaosResult.restored) failed = true;
}

if (only.has('cluster-chaos')) failed = (await (await import('./cluster-chaos.js')).clusterChaosSoak({ scale, seed, command })) || failed;

console.log('\n== Reliability: boot soak ==');
console.log('   reproduce: npm run soak' + (values.quick ? ' -- --quick' : ''));
printTable(['run', 'cycles', 'failures', 'recovered', 'boot p50 / p99', 'leaks', 'heap growth', 'took'], rows);

if (chaosResult) {
  const r = chaosResult;
  const rec = r.kills.map((k) => k.recoveredMs).filter((x): x is number => x !== null);
  console.log('\n== Reliability: chaos (SIGKILL of extensions and the Python Conductor under load) ==');
  console.log(`   extensions ran: ${Object.entries(r.isolation).map(([n, i]) => `${n} ${i}`).join(', ')}`);
  printTable(
    ['requests ok', 'failed, typed', 'untyped', 'hung', 'errors by code', 'kills', 'recovery p50 / p99 / max', 'restored'],
    [[String(r.requests.ok), String(r.requests.typed), String(r.requests.untyped), String(r.requests.hung), Object.entries(r.byCode).map(([c, n]) => `${c}: ${n}`).join(', ') || '—', String(r.kills.length), `${ms(pct(rec, 50))} / ${ms(pct(rec, 99))} / ${ms(Math.max(...rec))}`, r.restored ? 'yes' : 'NO']],
  );
}

if (only.has('decoder')) {
  const frames = Math.round(1_000_000 * scale);
  process.stderr.write(`fuzz: decoder ${frames} frames, config and manifests\n`);
  const d = fuzzDecoder(frames, { seed });
  const c = await fuzzConfig(Math.round(5_000 * scale), { seed });
  const m = await fuzzManifests(Math.round(2_000 * scale), { seed });
  const fails = d.failures + c.failures + m.failures;
  if (fails) failed = true;
  console.log('\n== Reliability: hostile input (fuzzing, seeded) ==');
  printTable(
    ['target', 'inputs', 'failures', 'notes'],
    [
      ['wire decoder', `${d.frames} frames`, String(d.failures), `${Math.round(d.framesPerSecond).toLocaleString()} frames/s`],
      ['config loader (YAML, TOML)', String(c.runs), String(c.failures), `${c.accepted} accepted, ${c.rejected} rejected with positions`],
      ['manifest validator', String(m.runs), String(m.failures), `${m.accepted} accepted, ${m.rejected} rejected with positions`],
    ],
  );
}

if (only.has('fuzz')) {
  const inputs = Math.round(1_000_000 * scale);
  process.stderr.write(`kernel fuzz: ${inputs} inputs into a real kernel (seed ${seed})\n`);
  let shown = 0;
  const t0Fuzz = performance.now();
  const k = await fuzzKernel({
    seed,
    inputs,
    onBatch: (p) => {
      if (p.inputs - shown < inputs / 50) return;
      shown = p.inputs;
      process.stderr.write(`  kernel fuzz: ${p.inputs}/${inputs}, ${p.crashes} crashes, ${p.hung} hung, ${p.failures} failures, ${Math.round(p.inputs / ((performance.now() - t0Fuzz) / 1000))}/s\n`);
    },
  });
  const bad = k.crashes + k.hung + k.alteredIds + k.probeFailures + k.forgedLines + k.rssViolations;
  if (bad) failed = true;
  console.log('\n== Reliability: a real kernel fuzzed (socket frames, answers, stdio, stderr) ==');
  console.log(`   reproduce: ${command}${values.seed ? '' : ` --seed ${seed}`}`);
  console.log(describeKernelFuzz(k));
}

if (only.has('hostile-peers')) {
  process.stderr.write('hostile peers\n');
  const h = await hostilePeers({ attackMs: Math.round(20_000 * Math.max(scale, 0.25)) });
  if (!h.ok) failed = true;
  console.log('\n== Reliability: hostile peers ==');
  printTable(
    ['quiet p50 / p99', 'under attack p50 / p99', 'bound', 'kernel memory growth', 'bound', 'verdict'],
    [[`${ms(h.latency.quiet.p50Ms)} / ${ms(h.latency.quiet.p99Ms)}`, `${ms(h.latency.attack.p50Ms)} / ${ms(h.latency.attack.p99Ms)}`, `p99 < ${h.bounds.attackP99Ms} ms`, `+${(h.memory.peakRssMb - h.memory.baselineRssMb).toFixed(0)} MB RSS`, `+${h.bounds.rssGrowthMb} MB`, h.ok ? 'PASS' : `FAIL: ${h.violations.join('; ')}`],
    ],
  );
  // The same kinds of attack against a real `symphony up` under a descriptor limit, from client processes.
  process.stderr.write('hostile peers against a real kernel\n');
  const hk = await hostileKernel({ attackMs: Math.round(30_000 * Math.max(scale, 0.2)), quietMs: 3000 });
  if (!hk.ok) failed = true;
  console.log('\n== Reliability: hostile peers against a real kernel (silent connections past its descriptor limit, floods, a never-reader, deep nesting, stderr floods) ==');
  console.log(`   reproduce: ${command}`);
  console.log(describeHostileKernel(hk));
}

console.log(failed ? '\nSOAK FAILED' : '\nsoak passed: no failure, no leak, no hung request');
process.exit(failed ? 1 : 0);

function printTable(headers: string[], body: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
}
