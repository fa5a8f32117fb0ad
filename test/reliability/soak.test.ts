/**
 * The short form of `npm run soak`, in every test run: boot cycles with injected faults (in one
 * process and as separate processes) and a chaos storm. Zero failures, zero leaks, no hung request.
 */
import { describe, expect, it } from 'vitest';
import { bootSoakInProcess, bootSoakProcesses } from './boot-soak.js';
import { chaos } from './chaos.js';

describe('boot soak (short form)', () => {
  it('boots and stops the default system 25 times in one process under injected faults: all boot, nothing leaks', async () => {
    const r = await bootSoakInProcess({ cycles: 25, seed: 20261124 });
    expect(r.errors).toEqual([]);
    expect(r.failures).toBe(0);
    expect(r.cycles).toBe(25);
    expect(r.leaks).toEqual([]);
    expect(r.faults.transient + r.faults.slow + r.faults.flap).toBeGreaterThan(10);
    expect(r.recovered).toBeGreaterThan(10);
    // The heap returns to where it was (within a few MB: caches and JIT code settle early).
    expect(r.heapEndBytes - r.heapStartBytes).toBeLessThan(16 * 1024 * 1024);
  }, 120_000);

  it('boots 8 separate `symphony up --once` processes under injected faults: all exit 0, none leaves a process', async () => {
    const r = await bootSoakProcesses({ cycles: 8, seed: 7 });
    expect(r.errors).toEqual([]);
    expect(r.failures).toBe(0);
    expect(r.leaks).toEqual([]);
  }, 120_000);
});

describe('chaos (short form)', () => {
  it('under load, with extensions and the Python Conductor killed at random: every request succeeds or fails typed, none hangs, all recover', async () => {
    const r = await chaos({ durationMs: 8000, seed: 11, killEveryMs: 500 });
    expect(r.requests.hung).toBe(0);
    expect(r.requests.untyped).toBe(0);
    expect(r.untypedSamples).toEqual([]);
    expect(r.requests.ok).toBeGreaterThan(1000);
    expect(r.kills.length).toBeGreaterThanOrEqual(4);
    expect(r.restored).toBe(true);
    // A call made while its victim restarts waits for it (Bus.hold): never -32601, as if nobody served the method.
    for (const code of Object.keys(r.byCode)) expect(['-32004', '-32003', '-32800', '-32005']).toContain(code);
  }, 120_000);
});
