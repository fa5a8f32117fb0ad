/**
 * KERNEL / cold: one boot per fresh process, as users start a process.
 *
 * Each sample is `node bench/cold/child.mjs CANDIDATE SIZE`: a new Node process imports the
 * candidate, builds the seeded 10-level graph, then times creation -> every component started and
 * the stop. Candidates run interleaved in a shuffled order each round, so a busy spell of the
 * machine lands on all of them; ratios are taken per round against that round's floor, then the
 * median ratio is reported (robust against drift). CPU time (user + system of the child) is
 * reported beside wall time: on a shared machine it moves far less.
 *
 *   npm run bench -- kernel cold            (ROUNDS=N to change the 7 rounds)
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

import { ROOT, fmtMs, fmtRatio, median, mulberry32, percentile, printTable, verdict } from './lib.js';

const run = promisify(execFile);
const CHILD = resolve(ROOT, 'bench/cold/child.mjs');
const CANDIDATES = ['floor', 'symphony', 'avvio', 'awilix', 'effect', 'inversify', 'nestjs'] as const;
type Candidate = (typeof CANDIDATES)[number];
const SIZES = [1_000, 5_000, 10_000];
/** Targets for Symphony's cold start against the floor (start), and its stop. */
const START_TARGET: Record<number, number> = { 1_000: 3, 5_000: 2, 10_000: 2 };
const STOP_TARGET = 2;

interface Sample {
  startMs: number;
  startCpuMs: number;
  stopMs: number;
  rssGrowth: number;
}

async function one(candidate: Candidate, size: number): Promise<Sample | { error: string }> {
  try {
    const { stdout } = await run(process.execPath, [CHILD, candidate, String(size)], { cwd: ROOT, timeout: 120_000, maxBuffer: 1 << 20 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Sample;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const line = (e.stderr ?? '').split('\n').find((l) => /Error/.test(l)) ?? e.message.split('\n')[0]!;
    return { error: line.trim().slice(0, 100) };
  }
}

interface Row {
  size: number;
  candidate: Candidate;
  samples: Sample[];
  error?: string;
  /** Per round: this candidate's figure / that round's floor figure. */
  startRatios: number[];
  cpuRatios: number[];
  stopRatios: number[];
}

const spread = (v: number[]) => `${fmtMs(percentile(v, 10))}-${fmtMs(percentile(v, 90))}`;

export async function coldSection(): Promise<unknown> {
  const rounds = Number(process.env.ROUNDS ?? 7);
  console.log('');
  console.log('== kernel / cold start: one boot per fresh process ==');
  console.log('   reproduce: npm run bench -- kernel cold   (ROUNDS=N, default 7)');
  console.log('   workload: 10 levels; a component of level L > 0 needs one of level L-1 and 0..2 more earlier ones; no-op async start/stop');
  console.log('   timed: from the kernel\'s (container\'s) creation, its module already imported, to every component started; then the stop');
  const rnd = mulberry32(0xc01d);
  const rows: Row[] = [];
  for (const size of SIZES) {
    const bySize = new Map<Candidate, Row>(CANDIDATES.map((c) => [c, { size, candidate: c, samples: [], startRatios: [], cpuRatios: [], stopRatios: [] }]));
    for (let r = 0; r < rounds; r++) {
      const order = [...CANDIDATES].sort(() => rnd() - 0.5);
      const got = new Map<Candidate, Sample>();
      for (const c of order) {
        const row = bySize.get(c)!;
        if (row.error) continue; // a candidate that failed at a size is not retried there
        const s = await one(c, size);
        if ('error' in s) row.error = s.error;
        else {
          row.samples.push(s);
          got.set(c, s);
        }
      }
      const f = got.get('floor');
      if (!f) continue;
      for (const [c, s] of got) {
        const row = bySize.get(c)!;
        row.startRatios.push(s.startMs / f.startMs);
        row.cpuRatios.push(s.startCpuMs / f.startCpuMs);
        row.stopRatios.push(s.stopMs / f.stopMs);
      }
    }
    rows.push(...bySize.values());
  }
  printTable(
    ['size', 'candidate', 'start p50', 'p10-p90', 'x floor', 'cpu p50', 'cpu x floor', 'stop p50', 'stop x floor', 'rss +'],
    rows.map((r) =>
      r.error && !r.samples.length
        ? [String(r.size), r.candidate, `fails: ${r.error}`, '', '', '', '', '', '', '']
        : [
            String(r.size),
            r.candidate + (r.error ? ` (then failed: ${r.error})` : ''),
            fmtMs(median(r.samples.map((s) => s.startMs))),
            spread(r.samples.map((s) => s.startMs)),
            fmtRatio(median(r.startRatios)),
            fmtMs(median(r.samples.map((s) => s.startCpuMs))),
            fmtRatio(median(r.cpuRatios)),
            fmtMs(median(r.samples.map((s) => s.stopMs))),
            fmtRatio(median(r.stopRatios)),
            `${(median(r.samples.map((s) => s.rssGrowth)) / 1048576).toFixed(1)} MB`,
          ],
    ),
  );
  const sym = (size: number) => rows.find((r) => r.size === size && r.candidate === 'symphony')!;
  for (const size of SIZES) {
    const s = sym(size);
    const cpuRatio = median(s.cpuRatios);
    console.log(`   ${size}: start in CPU time ${fmtRatio(cpuRatio)} the floor (target <= ${START_TARGET[size]}x) ${verdict(cpuRatio <= START_TARGET[size]!)}`);
  }
  for (const size of SIZES) {
    const s = sym(size);
    const ratio = median(s.startRatios);
    const others = rows.filter((r) => r.size === size && r.candidate !== 'symphony' && r.candidate !== 'floor');
    const beaten = others.filter((o) => o.error !== undefined || median(o.samples.map((x) => x.startMs)) > median(s.samples.map((x) => x.startMs)));
    console.log(
      `   ${size}: start ${fmtRatio(ratio)} the floor (target <= ${START_TARGET[size]}x) ${verdict(ratio <= START_TARGET[size]!)}; ` +
        `stop ${fmtRatio(median(s.stopRatios))} (target <= ${STOP_TARGET}x) ${verdict(median(s.stopRatios) <= STOP_TARGET)}; ` +
        `faster than ${beaten.length}/${others.length} libraries${beaten.length < others.length ? ` (not: ${others.filter((o) => !beaten.includes(o)).map((o) => o.candidate).join(', ')})` : ''}`,
    );
  }
  const growth = median(sym(10_000).samples.map((s) => s.startMs)) / median(sym(1_000).samples.map((s) => s.startMs));
  console.log(`   growth 1,000 -> 10,000: ${fmtRatio(growth)} (target <= 12x) ${verdict(growth <= 12)}`);
  // The same in CPU time, beside the floor's own: on a loaded machine wall time mostly measures the others.
  const cpuOf = (size: number, c: Candidate) => median(rows.find((r) => r.size === size && r.candidate === c)!.samples.map((x) => x.startCpuMs));
  const cpuGrowth = cpuOf(10_000, 'symphony') / cpuOf(1_000, 'symphony');
  console.log(`   growth 1,000 -> 10,000 in CPU time: ${fmtRatio(cpuGrowth)} (target <= 12x) ${verdict(cpuGrowth <= 12)}; the floor's: ${fmtRatio(cpuOf(10_000, 'floor') / cpuOf(1_000, 'floor'))}`);
  return rows;
}
