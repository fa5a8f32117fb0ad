/**
 * Resource bombs from a hostile isolated extension: heap and native memory, CPU, processes, the
 * Artifact Store's disk, its scratch folder, and the kernel's own memory spent on its behalf.
 * Each is bounded (measured from the host: resident sizes, CPU time, process counts, folder and
 * disk sizes), logged, and the kernel keeps serving. The bombs that would hurt the machine if
 * they escaped run only after confined() proved the sandbox from inside, and each has a safety
 * cap of its own, so an unbounded run fails the test instead of taking the machine.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attack, cleanup, delay, folderBytes, gateOf, hostProcessesMentioning, instance, KernelProcess, newRun, processState, type Instance, type Run } from './hostile-extension-harness.js';

let run: Run;
let k: KernelProcess;
const I: Record<string, Instance> = {};
const MB = 1 << 20;
const LIMIT_MB = 128;
const QUOTA = 1 * MB;

/** A host process and its descendants (an extension runs under its sandbox's wrapper and bwrap). */
const treeOf = (pid: number): number[] => {
  let kids = '';
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return [];
  }
  return [pid, ...(kids ? kids.split(' ').flatMap((c) => treeOf(Number(c))) : [])];
};
const expectRanConfined = (r: Record<string, any>) => expect(r.refused, `${r.refused}: ${r.why}`).toBeUndefined();
const rssOf = (pid: number) => {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};

/** Samples `f` every 50 ms while `during` runs; returns its answer and the peak. */
async function peakDuring<T>(f: () => number, during: Promise<T>): Promise<{ answer: T; peak: number }> {
  let peak = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, f());
      await delay(50);
    }
  })();
  const answer = await during.finally(() => (done = true));
  await sampler;
  return { answer, peak };
}

/** CPU time (user + system) of a host process and its descendants, in seconds. */
function cpuSeconds(pid: number): number {
  let total = 0;
  for (const p of treeOf(pid)) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // gone
    }
  }
  return total;
}

beforeAll(async () => {
  run = newRun();
  const add = (i: Instance) => (I[i.name] = i);
  add(instance(run, { name: 'victim', from: 'victim' }));
  // Granted /proc (the sandbox's own, showing only its processes): the confinement gate lists it.
  const proc = { fsRead: ['/proc'] };
  add(instance(run, { name: 'memheap', from: 'attacker', permissions: proc, limits: { memoryMb: LIMIT_MB } }));
  add(instance(run, { name: 'membuf', from: 'attacker', permissions: proc, limits: { memoryMb: LIMIT_MB } }));
  add(instance(run, { name: 'spinner', from: 'attacker', permissions: proc, limits: { memoryMb: LIMIT_MB, cpuPercent: 20 } }));
  add(instance(run, { name: 'forker', from: 'attacker', permissions: { ...proc, childProcess: true }, limits: { memoryMb: 512, processes: 16 } }));
  add(instance(run, { name: 'quota', from: 'attacker', calls: ['artifacts.put'] }));
  add(instance(run, { name: 'filler', from: 'attacker', permissions: proc, limits: { memoryMb: LIMIT_MB } }));
  add(instance(run, { name: 'budget', from: 'attacker', provides: ['budget.run', 'budget.sink'], calls: ['budget.sink'], limits: { memoryMb: 1024 } }));
  k = await KernelProcess.boot(run, Object.values(I), { artifactQuotaBytes: QUOTA });
}, 40_000);
afterAll(async () => {
  await k?.stop();
  if (run) cleanup(run);
});

const victimAnswers = async () => {
  const v = (await k.client.request('victim.ping', {}, { timeout: '3s' })) as { who: string };
  expect(v.who).toBe('victim');
};

describe('memory', () => {
  for (const [name, bomb] of [
    ['memheap', 'heap-bomb'],
    ['membuf', 'buffer-bomb'],
  ] as const) {
    it(`${bomb}: killed at its limit (${LIMIT_MB} MB), the kernel alive`, async () => {
      const pid = (await k.pidOf(name))!;
      expect(pid).toBeGreaterThan(0);
      const at = k.events.length;
      const { answer, peak } = await peakDuring(() => treeOf(pid).reduce((n, p) => n + rssOf(p), 0), attack(k, I[name]!, bomb, { capMb: 1024, gate: gateOf(run, k) }, '60s'));
      expectRanConfined(answer);
      expect(answer.outcome, 'it reached its safety cap: nothing bounded it').not.toBe('succeeded');
      expect(peak / MB).toBeLessThan(LIMIT_MB * 1.5 + 32);
      expect(processState(pid), 'the bomb is dead').toBeUndefined();
      await k.expectLogged(at, name, /memory|limit|killed|oom/i);
      await k.expectServing([victimAnswers]);
    }, 90_000);
  }
});

describe('CPU', () => {
  it("a spinning extension is throttled; the kernel's calls stay fast", async () => {
    const pid = (await k.pidOf('spinner'))!;
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    const spin = attack(k, I.spinner!, 'spin', { ms: 3000, gate: gateOf(run, k) }, '30s');
    const latencies: number[] = [];
    await delay(300);
    while (Date.now() - t0 < 2800) {
      const s = performance.now();
      await k.client.request('orchestra.status', {}, { timeout: '5s' });
      latencies.push(performance.now() - s);
      await delay(40);
    }
    const r = await spin;
    expectRanConfined(r);
    const share = (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
    latencies.sort((a, b) => a - b);
    const p95 = latencies[Math.floor(latencies.length * 0.95)]!;
    console.log(`cpu spin: spinner used ${(share * 100).toFixed(0)}% of a core; kernel p95 ${p95.toFixed(1)} ms over ${latencies.length} calls`);
    // Held to its 20% even on a loaded machine (it gets at least that much of one of the cores there).
    expect(share).toBeLessThan(0.3);
    expect(p95).toBeLessThan(250);
    // Said the first time the limit held it back (its own start may already have hit it), then at most every 30 s.
    await k.expectLogged(0, 'spinner', /held at its CPU limit of 20%/);
    await k.expectServing([victimAnswers]);
  }, 40_000);
});

describe('processes', () => {
  it('a fork loop (child processes granted) is bounded by its process limit', async () => {
    const marker = `forkbomb-${run.dir}`;
    const at = k.events.length;
    const { answer, peak } = await peakDuring(() => hostProcessesMentioning(marker).length, attack(k, I.forker!, 'fork-loop', { capN: 200, marker, gate: gateOf(run, k) }, '60s'));
    expectRanConfined(answer);
    expect(answer.outcome, 'it reached its safety cap of 200 processes').not.toBe('succeeded');
    expect(peak).toBeLessThanOrEqual(16);
    await k.expectLogged(at, 'forker', /reached its process limit of 16/);
    await k.expectServing([victimAnswers]);
  }, 90_000);
});

describe('disk', () => {
  it('artifacts.put past its quota is refused; the blob folder did not grow past it', async () => {
    const before = folderBytes(run.pit);
    const at = k.events.length;
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await attack(k, I.quota!, 'call', { method: 'artifacts.put', params: { name: `fill-${i}`, data: `${i}`.padEnd(256 * 1024, 'q') } }));
    const grown = folderBytes(run.pit) - before;
    console.log(`artifact quota: ${answers.filter((a) => a.outcome === 'succeeded').length}/12 puts of 256 KiB stored; the store grew ${(grown / MB).toFixed(2)} MB (quota ${QUOTA / MB} MB)`);
    // Exactly what fits (4 x 256 KiB = its 1 MiB, set by its grant) was stored; the rest refused, typed.
    expect(answers.filter((a) => a.outcome === 'succeeded').length).toBe(4);
    expect(answers.filter((a) => a.outcome === 'failed').every((a) => a.code === -32005 && /over its artifact quota/.test(a.message))).toBe(true);
    expect(grown).toBeLessThanOrEqual(QUOTA + 512 * 1024);
    await k.expectLogged(at, "'quota' is over its artifact quota", /quota/i);
    // The store's other callers are not affected: the operator stores past what 'quota' could.
    const other = (await k.client.request('artifacts.put', { name: 'operator-after-quota', data: 'o'.padEnd(512 * 1024, 'o') })) as { size: number };
    expect(other.size).toBe(512 * 1024);
    await k.expectServing();
  });

  it('filling its private scratch /tmp is bounded (confined first); the host disk did not pay for it', async () => {
    const free = () => {
      const s = statfsSync(run.dir);
      return s.bavail * s.bsize;
    };
    const free0 = free();
    const at = k.events.length;
    const r = await attack(k, I.filler!, 'fill-dir', { dir: '/tmp', capMb: 512, gate: gateOf(run, k) }, '60s');
    expectRanConfined(r);
    const lost = free0 - free();
    console.log(`scratch fill: wrote ${r.writtenMb} MB before ${r.code ?? r.outcome}; host disk free went down ${(lost / MB).toFixed(0)} MB`);
    expect(r.outcome, 'it reached its 512 MB safety cap').not.toBe('succeeded');
    expect(lost).toBeLessThan(128 * MB);
    expect(r.code, 'stopped by its scratch /tmp filling up').toBe('ENOSPC');
    expect(r.writtenMb).toBeLessThanOrEqual(64);
    await k.expectLogged(at, 'filler', /filled its private scratch \/tmp \(64 MB/);
    await k.expectServing();
  }, 90_000);
});

describe("the kernel's memory spent for a peer", () => {
  it('1,000 waiting requests of 1 MB each do not grow the kernel by 1 GB: refused past its budget with a typed error', async () => {
    const base = k.rss();
    const at = k.events.length;
    // Started in the background and asked for until it is over: on a loaded machine the whole
    // flood may take longer than one call's deadline.
    const flood = (async () => {
      const started = await attack(k, I.budget!, 'flood-start', { id: 'f1', method: 'budget.sink', count: 1000, sizeBytes: 1_000_000, timeout: '15s' });
      if (started.outcome !== 'started') return started;
      for (const end = Date.now() + 120_000; Date.now() < end; ) {
        const r = await attack(k, I.budget!, 'flood-result', { id: 'f1' }, '10s');
        if (r.outcome !== 'running') return r;
      }
      return { outcome: 'still running after 120 s' };
    })();
    const { answer, peak } = await peakDuring(() => k.rss(), flood);
    const grown = (peak - base) / MB;
    console.log(`kernel memory for a peer: RSS ${(base / MB).toFixed(0)} -> peak ${(peak / MB).toFixed(0)} MB; the flood's answers ${JSON.stringify(answer.codes ?? answer)}`);
    expect(grown).toBeLessThan(256);
    expect(answer.codes?.['-32005'] ?? 0, 'refused past its budget with -32005 (overloaded)').toBeGreaterThan(500);
    await k.expectLogged(at, 'budget', /budget|overload/i);
    await k.expectServing([victimAnswers]);
  }, 150_000);
});
