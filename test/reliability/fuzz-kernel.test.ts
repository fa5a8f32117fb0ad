/**
 * The kernel fuzzer's short form (its long form: `npm run soak -- --only kernel`): a few thousand
 * seeded inputs into a real kernel, none of which may crash it, hang a caller, alter an id, slow
 * the probe past its bound, forge a log line or grow it past its memory bound. And its replay
 * files hold every input whole.
 */
import { describe, expect, it } from 'vitest';
import { describeKernelFuzz, fuzzKernel } from './fuzz-kernel.js';
import { pack, unpack } from './fuzz-replay.js';

describe('the kernel fuzzer, short form', () => {
  it('2,000 inputs into a real kernel: no crash, no hung caller, no altered id, no forged line', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const r = await fuzzKernel({ seed, inputs: 2000, batch: 400 });
    console.log(describeKernelFuzz(r));
    expect(r.inputs).toBeGreaterThanOrEqual(2000);
    expect(r.tracked, 'requests the fuzzer could hold the kernel to').toBeGreaterThan(100);
    expect({ crashes: r.crashes, hung: r.hung, alteredIds: r.alteredIds, probeFailures: r.probeFailures, forgedLines: r.forgedLines, rssViolations: r.rssViolations }, describeKernelFuzz(r)).toEqual({ crashes: 0, hung: 0, alteredIds: 0, probeFailures: 0, forgedLines: 0, rssViolations: 0 });
  }, 120_000);

  it('a replay file keeps each input whole, in little space', () => {
    const inputs = [Buffer.from(`{"jsonrpc":"2.0","id":1,"params":"${'p'.repeat(1_100_000)}"}`), Buffer.from(`${'[{"x":'.repeat(5000)}0${'}]'.repeat(5000)}`), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3]), Buffer.alloc(0), Buffer.from('aaaaaaaaaaaaaaaab')];
    for (const b of inputs) {
      const parts = pack(b);
      expect(unpack(parts).equals(b)).toBe(true);
      expect(JSON.stringify(parts).length).toBeLessThan(400);
    }
  });
});
