/**
 * Boot soak: boot and stop the default system again and again, with seeded faults injected,
 * checking after every cycle that nothing leaked (handles, timers, sockets, files, child
 * processes) and sampling the heap. In one process (kernels created and stopped in a loop) and as
 * separate `symphony up --once` processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SYSTEM } from '../../src/cli/default-system.js';
import { Kernel, kernelOptions, type BootReport } from '../../src/index.js';
import { loadSystemText } from '../../src/system/index.js';
import { FaultInjector, rng, type FaultRates } from './faults.mjs';
import { childrenOf, settle, settledLeaks, snapshot } from './resources.js';
import { grantsFor } from '../helpers.js';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface SoakResult {
  kind: string;
  cycles: number;
  failures: number;
  /** Cycles in which a fault was injected and the boot still succeeded. */
  recovered: number;
  bootMs: number[];
  /** Cycles after which something was left behind, with what. */
  leaks: { cycle: number; what: string[] }[];
  heapStartBytes: number;
  heapEndBytes: number;
  faults: { transient: number; slow: number; flap: number };
  errors: string[];
  ms: number;
}

export const DEFAULT_RATES: FaultRates = { transient: 0.15, slow: 0.15, flap: 0.15 };
const RETRIES = 3;

/** The default system, prepared for a soak: its own Pit data, retries and deadlines for injected faults. */
async function soakSystem(profile: string | undefined) {
  const system = await loadSystemText(join(ROOT, 'examples', 'symphony.yaml'), DEFAULT_SYSTEM, { profile });
  const dataDir = mkdtempSync(join(tmpdir(), 'symphony-soak-'));
  for (const [name, c] of Object.entries(system.components)) {
    system.components[name] = { ...c, retries: RETRIES, backoff: { initial: '5ms', max: '20ms' }, timeout: '2s', health: { threshold: 3, interval: '1m' } };
  }
  system.components.pit = { ...system.components.pit, with: { ...(system.components.pit!.with as object), dataDir } };
  delete (system as { http?: unknown }).http;
  return system;
}

/** In one process: `cycles` boots and stops, leak-checked after each one. */
export async function bootSoakInProcess(options: { cycles: number; seed: number; rates?: FaultRates; profile?: string; onCycle?: (i: number) => void }): Promise<SoakResult> {
  const t0 = performance.now();
  const system = await soakSystem(options.profile);
  const random = rng(options.seed);
  const injector = new FaultInjector(random, options.rates ?? DEFAULT_RATES, RETRIES + 1, 0.4);
  const base = kernelOptions(system);
  const opts = { ...base, random, loader: async (use: string, name: string) => injector.wrap(name, await base.loader!(use, name)) };
  const result: SoakResult = { kind: 'in-process', cycles: 0, failures: 0, recovered: 0, bootMs: [], leaks: [], heapStartBytes: 0, heapEndBytes: 0, faults: injector.counts, errors: [], ms: 0 };
  // One cycle first: modules, native bindings and lazy singletons load once and are not leaks.
  const warm = new Kernel(opts);
  await warm.start();
  await warm.stop();
  await settle();
  const baseline = snapshot();
  result.heapStartBytes = baseline.heapUsed;
  for (let i = 0; i < options.cycles; i++) {
    const before = { ...injector.counts };
    const k = new Kernel(opts);
    try {
      const report: BootReport = await k.start();
      result.bootMs.push(report.readyMs);
      const injected = injector.counts.transient + injector.counts.slow + injector.counts.flap - (before.transient + before.slow + before.flap);
      if (injected > 0) result.recovered++;
    } catch (err) {
      result.failures++;
      result.errors.push(`cycle ${i}: ${(err as Error).message}`);
    }
    try {
      await k.stop();
    } catch (err) {
      result.errors.push(`cycle ${i} stop: ${(err as Error).message}`);
    }
    const left = await settledLeaks(baseline);
    if (left.length) result.leaks.push({ cycle: i, what: left });
    result.cycles++;
    options.onCycle?.(i);
  }
  await settle();
  result.heapEndBytes = snapshot().heapUsed;
  result.ms = performance.now() - t0;
  return result;
}

/** As separate processes: `symphony up --once` with faults injected by wrapper modules around the builtins. */
export async function bootSoakProcesses(options: { cycles: number; seed: number; concurrency?: number; onCycle?: (i: number) => void }): Promise<SoakResult> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'symphony-soak-proc-'));
  const wrapper = join(dir, 'faulty.mjs');
  writeFileSync(
    wrapper,
    [
      `import { FaultInjector, rng } from ${JSON.stringify(join(ROOT, 'test/reliability/faults.mjs'))};`,
      `import { busComponent } from ${JSON.stringify(join(ROOT, 'dist/bus/index.js'))};`,
      `import { pitComponent } from ${JSON.stringify(join(ROOT, 'dist/pit/index.js'))};`,
      `import { orchestraComponent } from ${JSON.stringify(join(ROOT, 'dist/orchestra/index.js'))};`,
      `import { conductorComponent } from ${JSON.stringify(join(ROOT, 'dist/conductor/index.js'))};`,
      `const injector = new FaultInjector(rng(Number(process.env.SOAK_SEED)), { transient: 0.15, slow: 0.15, flap: 0.15 }, ${RETRIES + 1}, 0.4);`,
      `process.on('exit', () => process.stderr.write('FAULTS ' + JSON.stringify(injector.counts) + '\\n'));`,
      `export const bus = injector.wrap('bus', busComponent);`,
      `export const pit = injector.wrap('pit', pitComponent);`,
      `export const orchestra = injector.wrap('orchestra', orchestraComponent);`,
      `export const conductor = injector.wrap('conductor', conductorComponent);`,
    ].join('\n'),
  );
  const common = `retries: ${RETRIES}, backoff: { initial: 5ms, max: 20ms }, timeout: 2s, health: { threshold: 3 }`;
  // One config per concurrent slot: each has its own Pit data (a store is one process's at a time).
  const configFor = (slot: number) => {
    const file = join(dir, `soak-${slot}.yaml`);
    writeFileSync(
      file,
      [
        'components:',
        `  bus: { use: ./faulty.mjs#bus, with: { listen: auto }, ${common} }`,
        `  pit: { use: ./faulty.mjs#pit, needs: [bus], late: [conductor], with: { dataDir: ./pit-${slot} }, ${common} }`,
        `  orchestra: { use: ./faulty.mjs#orchestra, needs: [bus, pit], with: { paths: [${join(ROOT, 'examples/extensions')}], grants: ${JSON.stringify(grantsFor([join(ROOT, 'examples/extensions')]))} }, ${common} }`,
        `  conductor: { use: ./faulty.mjs#conductor, needs: [orchestra], ${common} }`,
      ].join('\n'),
    );
    return file;
  };
  const before = childrenOf(); // e.g. a test runner's own helpers
  const result: SoakResult = { kind: 'processes', cycles: 0, failures: 0, recovered: 0, bootMs: [], leaks: [], heapStartBytes: 0, heapEndBytes: 0, faults: { transient: 0, slow: 0, flap: 0 }, errors: [], ms: 0 };
  const one = (i: number, slot: number) =>
    new Promise<void>((done) => {
      const report = join(dir, `r${slot}.json`);
      const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'up', '--once', '-c', configFor(slot), '--report', report, '--log', 'json', '--data', join(dir, `data-${slot}`)], {
        env: { ...process.env, SOAK_SEED: String(options.seed + i) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => {
        const faults = /FAULTS (\{.*\})/.exec(stderr);
        const f = faults ? (JSON.parse(faults[1]!) as SoakResult['faults']) : { transient: 0, slow: 0, flap: 0 };
        result.faults.transient += f.transient;
        result.faults.slow += f.slow;
        result.faults.flap += f.flap;
        if (code === 0) {
          const r = JSON.parse(readFileSync(report, 'utf8')) as BootReport;
          result.bootMs.push(r.processMs + r.readyMs);
          if (f.transient + f.slow + f.flap > 0) result.recovered++;
        } else {
          result.failures++;
          result.errors.push(`process ${i}: exit ${code}: ${stderr.split('\n').filter((l) => !l.startsWith('FAULTS')).slice(-3).join(' | ')}`);
        }
        // The extensions it spawned must be gone with it.
        const orphans = childrenOf(child.pid);
        if (orphans.length) result.leaks.push({ cycle: i, what: [`${orphans.length} process(es) left by the kernel`] });
        result.cycles++;
        options.onCycle?.(i);
        done();
      });
    });
  const concurrency = options.concurrency ?? 2;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (next < options.cycles) await one(next++, slot);
    }),
  );
  const strays = childrenOf().filter((c) => !before.includes(c));
  if (strays.length) result.leaks.push({ cycle: options.cycles, what: [`${strays.length} child process(es) of the soak still running`] });
  result.ms = performance.now() - t0;
  return result;
}
