/**
 * Chaos: steady request load through the bus to isolated extensions and to the Python Conductor,
 * while random ones among them are killed with SIGKILL again and again. Every request must either
 * succeed or fail with a typed error (a BusError with its JSON-RPC code) within its deadline; none
 * may hang or vanish. Supervision must bring every victim back; recovery times are recorded.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, kernelOptions, loadSystem } from '../../src/index.js';
import { BusError, type Bus } from '../../src/bus/index.js';
import type { Orchestra } from '../../src/orchestra/index.js';
import { ROOT } from './boot-soak.js';
import { rng } from './faults.mjs';

export interface ChaosResult {
  requests: { ok: number; typed: number; untyped: number; hung: number };
  byCode: Record<string, number>;
  kills: { victim: string; recoveredMs: number | null }[];
  restored: boolean;
  /** How each victim extension ran (sandboxed where bubblewrap works), as the Orchestra reports it. */
  isolation: Record<string, string>;
  untypedSamples: string[];
  ms: number;
}

const TARGETS: { name: string; method: string; params: unknown }[] = [
  { name: 'text-stats', method: 'text.stats', params: { text: 'the quick brown fox' } },
  { name: 'summarizer', method: 'report.text', params: { stats: { files: 1, words: 4, lines: 1, distinct: 4, top: [], perFile: [] } } },
  { name: 'conductor', method: 'conductor.decide', params: { kind: 'budget', melody: 'm', run: 'r', step: 's', cost: 1, spent: 0, budget: 10 } },
];

export async function chaos(options: { durationMs: number; seed: number; killEveryMs?: number; workers?: number; deadlineMs?: number }): Promise<ChaosResult> {
  const t0 = performance.now();
  const random = rng(options.seed);
  const system = await loadSystem(join(ROOT, 'examples', 'python-conductor.yaml'));
  delete (system as { http?: unknown }).http;
  system.components.pit = { ...system.components.pit, with: { dataDir: mkdtempSync(join(tmpdir(), 'symphony-chaos-')) } };
  // Supervision: the Python Conductor restarts; extensions are never quarantined during the storm.
  // logLevel WARNING: the Python Conductor logs each start at INFO, one line per kill on the inherited stderr.
  system.components.conductor = { ...system.components.conductor, with: { logLevel: 'warning' }, restart: { strategy: 'one_for_one', max: 10_000, within: '1m' }, backoff: { initial: '20ms', max: '200ms' } };
  system.components.orchestra = { ...system.components.orchestra, with: { ...(system.components.orchestra!.with as object), restart: { max: 10_000, within: '1m' }, backoff: { initial: '20ms', max: '200ms' } } };
  const k = new Kernel(kernelOptions(system));
  await k.start();
  const bus = k.get('bus') as Bus;
  const orchestra = k.get('orchestra') as Orchestra;
  const deadline = options.deadlineMs ?? 2000;
  const result: ChaosResult = { requests: { ok: 0, typed: 0, untyped: 0, hung: 0 }, byCode: {}, kills: [], restored: false, isolation: Object.fromEntries(orchestra.status().map((e) => [e.name, e.isolation])), untypedSamples: [], ms: 0 };
  let running = true;

  const pidOf = async (victim: string): Promise<number | undefined> => {
    if (victim === 'conductor') {
      try {
        return ((await bus.request('conductor.status', {}, { timeout: 500 })) as { pid: number }).pid;
      } catch {
        return undefined;
      }
    }
    return orchestra.status().find((s) => s.name === victim)?.pid;
  };
  const works = async (t: (typeof TARGETS)[number]) => {
    try {
      await bus.request(t.method, t.params, { timeout: 500 });
      return true;
    } catch {
      return false;
    }
  };

  const worker = async () => {
    while (running) {
      const t = TARGETS[Math.floor(random() * TARGETS.length)]!;
      let timer: NodeJS.Timeout | undefined;
      // A request that has not settled a second past its own deadline is hung.
      const watchdog = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), deadline + 1000)));
      const outcome = await Promise.race([
        bus.request(t.method, t.params, { timeout: deadline }).then(
          () => 'ok' as const,
          (err: unknown) => err,
        ),
        watchdog,
      ]);
      clearTimeout(timer);
      if (outcome === 'ok') result.requests.ok++;
      else if (outcome === 'hung') result.requests.hung++;
      else if (outcome instanceof BusError) {
        result.requests.typed++;
        result.byCode[outcome.code] = (result.byCode[outcome.code] ?? 0) + 1;
      } else {
        result.requests.untyped++;
        if (result.untypedSamples.length < 5) result.untypedSamples.push(String(outcome));
      }
      if (outcome !== 'ok') await new Promise((r) => setTimeout(r, 5)); // no busy loop while a victim is down
    }
  };

  const killer = async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, (options.killEveryMs ?? 400) * (0.5 + random())));
      if (!running) break;
      const target = TARGETS[Math.floor(random() * TARGETS.length)]!;
      const pid = await pidOf(target.name);
      if (!pid) continue; // down already, or an onCall extension not started yet
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
      const killedAt = performance.now();
      const entry = { victim: target.name, recoveredMs: null as number | null };
      result.kills.push(entry);
      // Recovery: the victim answers again (its replacement process is up and serving).
      for (let i = 0; i < 200 && running; i++) {
        if ((await pidOf(target.name)) !== pid && (await works(target))) {
          entry.recoveredMs = performance.now() - killedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };

  const workers = Array.from({ length: options.workers ?? 8 }, worker);
  const kill = killer();
  await new Promise((r) => setTimeout(r, options.durationMs));
  running = false;
  await Promise.all([...workers, kill]);
  // Supervision restored everything: every target answers.
  const end = Date.now() + 10_000;
  for (;;) {
    const ok = await Promise.all(TARGETS.map(works));
    if (ok.every(Boolean)) {
      result.restored = true;
      break;
    }
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await k.stop();
  result.ms = performance.now() - t0;
  return result;
}
