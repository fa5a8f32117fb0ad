// A test extension for the Conductor's regression tests: it records every call (probe.calls
// returns and clears the record) and how many probe.sleep calls ran at once.
let calls = [];
let running = 0;
let maxRunning = 0;
const counts = {};
const rec = (method, params) => calls.push({ method, params: params ?? null });
export default {
  async activate(ctx) {
    ctx.bus.handle('probe.echo', (p) => (rec('echo', p), p ?? null));
    ctx.bus.handle('probe.log', (p) => (rec('log', p), p ?? null));
    ctx.bus.handle('probe.fail', (p) => {
      rec('fail', p);
      throw new Error(`boom ${JSON.stringify(p ?? null)}`);
    });
    ctx.bus.handle('probe.flaky', (p) => {
      rec('flaky', p);
      const k = p?.key ?? 'k';
      counts[k] = (counts[k] ?? 0) + 1;
      if (counts[k] <= (p?.fails ?? 1)) throw new Error(`flaky ${k} #${counts[k]}`);
      return { ok: true, n: counts[k] };
    });
    ctx.bus.handle('probe.sleep', async (p) => {
      rec('sleep-start', p);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, p?.ms ?? 100));
      running--;
      rec('sleep-end', p);
      if (p?.fail) throw new Error(`slept then failed ${JSON.stringify(p)}`);
      return p;
    });
    // A decision policy that stops the melody at the first failure.
    ctx.bus.handle('probe.decide', (q) => {
      if (q.kind === 'failure') return { choice: 'fail', rationale: 'policy says no' };
      if (q.kind === 'budget') return { choice: 'allow', rationale: 'ok' };
      return { choice: q.candidates[0], rationale: 'first' };
    });
    ctx.bus.handle('probe.calls', () => {
      const out = { calls, maxRunning, running };
      calls = [];
      maxRunning = 0;
      return out;
    });
  },
};
