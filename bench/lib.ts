/**
 * Shared helpers for the benchmark sections: a seeded PRNG, order statistics, an interleaving
 * `measure`, table printing and JSON output. No dependency on the code under test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (bench/..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where raw results go (gitignored). */
export const OUT_DIR = resolve(ROOT, '.bench-out');

// ---- randomness ---------------------------------------------------------------------------------

export { mulberry32 } from '../test/random.mjs';

// ---- statistics ---------------------------------------------------------------------------------

/** The p-th percentile (0..100) by linear interpolation between closest ranks. NaN for no data. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : Number.NaN;
}

/** Summary of one metric's samples. */
export interface Stats {
  n: number;
  p50: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

export function stats(values: readonly number[]): Stats {
  return {
    n: values.length,
    p50: median(values),
    p10: percentile(values, 10),
    p90: percentile(values, 90),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
  };
}

// ---- measuring ----------------------------------------------------------------------------------

/** Forces a full collection when node runs with --expose-gc (a no-op otherwise). */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Lets the event loop turn (so what the previous sample left to timers and microtasks is released),
 * then collects. Use before every sample and before reading the heap.
 */
export async function settle(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
  gc();
}

export const hasGc = typeof (globalThis as { gc?: unknown }).gc === 'function';

/**
 * One sample: either a number (milliseconds, reported as metric `ms`) or several named metrics
 * measured by the case itself (e.g. `{ boot, shutdown }`).
 */
export type Sample = number | Record<string, number>;
export type Case = () => Sample | Promise<Sample>;

export interface MeasureOptions {
  /** Untimed rounds first (JIT warm-up); their samples are dropped. */
  warmup: number;
  /** Timed rounds; every case runs once per round. */
  runs: number;
  /** Full GC before every sample, outside the timing (default true). */
  gcBetween?: boolean;
  /** Called after each timed round (progress). */
  onRound?: (round: number) => void;
}

/** Samples per case and per metric. */
export type Samples = Record<string, Record<string, number[]>>;

/**
 * Runs every case once per round, baselines and candidates interleaved in the same process, the
 * order rotated each round so that no case always runs first (or right after the same neighbour).
 * Drift of a noisy machine then hits every case alike, and their medians stay comparable.
 */
export async function measure(cases: Record<string, Case>, options: MeasureOptions): Promise<Samples> {
  const names = Object.keys(cases);
  const out: Samples = {};
  for (const n of names) out[n] = {};
  const total = options.warmup + options.runs;
  for (let round = 0; round < total; round++) {
    const timed = round >= options.warmup;
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) {
      if (options.gcBetween !== false) await settle();
      const sample = await cases[name]!();
      if (!timed) continue;
      const metrics = typeof sample === 'number' ? { ms: sample } : sample;
      for (const [k, v] of Object.entries(metrics)) (out[name]![k] ??= []).push(v);
    }
    if (timed) options.onRound?.(round - options.warmup + 1);
  }
  return out;
}

/** Times a synchronous or async function once, in milliseconds. */
export async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// ---- output -------------------------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  return ns >= 100 ? `${ns.toFixed(0)} ns` : ns >= 10 ? `${ns.toFixed(1)} ns` : `${ns.toFixed(2)} ns`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '—';
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  const mb = bytes / (1024 * 1024);
  return Math.abs(mb) >= 1 ? `${mb.toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** `PASS` / `FAIL` with the target text, for a line printed beside the figures. */
export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'FAIL';
}

/**
 * Prints a plain-text table. Columns whose cells look numeric (start with a digit, a sign or a
 * dash placeholder) are right-aligned; the rest left-aligned.
 */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+0-9.—]/.test(r[i] ?? '')));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** A section or sub-section header, with the command that reproduces it. */
export function header(title: string, command?: string): void {
  console.log('');
  console.log(`== ${title} ==`);
  if (command) console.log(`   reproduce: ${command}`);
}

/** Writes `data` as pretty JSON to .bench-out/<name>.json; returns the path. */
export function writeJson(name: string, data: unknown): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = resolve(OUT_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** Facts about the machine and runtime, recorded with every result file. */
export function environment(): Record<string, unknown> {
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    exposeGc: hasGc,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadavg1m: loadavg()[0],
    date: new Date().toISOString(),
  };
}
