import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Bus, BusError, ErrorCode, InvalidParamsError, InvalidRequestError, type BusApi } from '../../src/bus/index.js';
import type { PitContext } from '../../src/pit/extension.js';
import { backoffDelay, DagTracker, type RunStatus, type Workflow, type WorkflowNode } from '../../src/pit/dag/index.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const open: DagTracker[] = [];

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dag-test-'));
  dirs.push(d);
  return d;
}

/** A tracker on `dir` with a bare context; events are collected (and published when a bus is given). */
async function tracker(dir?: string, config: Record<string, unknown> = {}, bus: BusApi = new Bus()): Promise<{ t: DagTracker; events: Ev[]; dir: string }> {
  const dataDir = dir ?? (await tempDir());
  const events: Ev[] = [];
  const ctx: PitContext = {
    bus,
    dataDir,
    log: silent,
    config,
    emit: (type, data) => {
      events.push({ type, data });
      bus.publish(`pit.dag.${type}`, { extension: 'dag', type, at: Date.now(), data });
    },
    sibling: () => {
      throw new Error('no siblings here');
    },
  };
  const t = new DagTracker();
  await t.init(ctx);
  open.push(t);
  return { t, events, dir: dataDir };
}

async function close(t: DagTracker): Promise<void> {
  open.splice(open.indexOf(t), 1);
  await t[Symbol.asyncDispose]();
}

afterEach(async () => {
  vi.useRealTimers();
  for (const t of open.splice(0)) await t[Symbol.asyncDispose]();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function caught(fn: () => unknown): BusError {
  try {
    fn();
  } catch (err) {
    return err as BusError;
  }
  throw new Error('expected an error');
}

const states = (s: RunStatus): Record<string, string> => Object.fromEntries(Object.entries(s.nodes).map(([id, n]) => [id, n.state]));

/** Starts and completes `id`, returning the complete's answer. */
function pass(t: DagTracker, run: string, id: string, output?: unknown) {
  t.start(run, id);
  return t.complete(run, id, output);
}

describe('DagTracker: scheduling', () => {
  it('a diamond runs in ready-set order: a, then b and c, then d once both are done', async () => {
    const { t, events } = await tracker();
    const { run, ready } = t.create({ id: 'diamond', nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }] });
    expect(ready).toEqual(['a']);
    expect(t.start(run, 'a')).toEqual({ attempt: 1 });
    expect(t.ready(run).ready).toEqual([]);
    expect(t.complete(run, 'a', { n: 1 })).toEqual({ ready: ['b', 'c'], released: ['b', 'c'], state: 'running' });
    expect(pass(t, run, 'c')).toEqual({ ready: ['b'], released: [], state: 'running' });
    expect(pass(t, run, 'b')).toEqual({ ready: ['d'], released: ['d'], state: 'running' });
    expect(pass(t, run, 'd', 'done')).toEqual({ ready: [], released: [], state: 'succeeded' });
    const s = t.status(run);
    expect(states(s)).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'succeeded' });
    expect([s.nodes.a!.output, s.nodes.d!.output, s.nodes.b!.output]).toEqual([{ n: 1 }, 'done', undefined]);
    expect('output' in s.nodes.b!).toBe(false);
    // Every transition is an event with its reason; the run's start and end too.
    const d = events.filter((e) => e.type === 'node' && e.data.node === 'd').map((e) => `${e.data.from}->${e.data.to}`);
    expect(d).toEqual(['pending->ready', 'ready->running', 'running->succeeded']);
    expect(events.find((e) => e.data.node === 'd' && e.data.to === 'ready')!.data.reason).toBe("dependencies settled (last: 'b' succeeded)");
    expect(events.filter((e) => e.type === 'run').map((e) => e.data.to)).toEqual(['running', 'succeeded']);
  });

  it('hard needs must succeed; soft `after` deps need only to be settled', async () => {
    const { t } = await tracker();
    const { run } = t.create({
      nodes: [{ id: 'a', optional: true }, { id: 'hard', needs: ['a'] }, { id: 'soft', after: ['a'] }, { id: 'next', needs: ['hard'] }],
    });
    t.start(run, 'a');
    // `after` waits while a runs: nothing else is ready.
    expect(t.ready(run).ready).toEqual([]);
    const r = t.fail(run, 'a', 'kaput');
    expect(r.decision).toMatchObject({ action: 'fail', runFailed: false, skipped: ['hard', 'next'] });
    expect(r.ready).toEqual(['soft']);
    expect(states(t.status(run))).toEqual({ a: 'failed', hard: 'skipped', soft: 'ready', next: 'skipped' });
    expect(t.status(run).nodes.next!.reason).toBe("hard need 'hard' skipped");
    expect(pass(t, run, 'soft').state).toBe('succeeded');
  });

  it('a soft dep that succeeds releases its dependent too, and needs listed twice count once', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a', 'a'], after: ['a'] }] });
    expect(pass(t, run, 'a').released).toEqual(['b']);
    expect(pass(t, run, 'b').state).toBe('succeeded');
  });

  it('optional nodes: their failure never fails the run, even through required dependents', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'lint', optional: true }, { id: 'report', needs: ['lint'] }, { id: 'build' }] });
    t.start(run, 'lint');
    t.start(run, 'build');
    const r = t.fail(run, 'lint', { message: 'style' });
    expect(r.decision.rationale).toBe("attempt 1 of 'lint' failed (style); strategy 'fail': 'lint' is optional, so the run goes on; its hard dependents are skipped: 'report'");
    expect(t.complete(run, 'build').state).toBe('succeeded');
    expect(t.status(run).nodes.lint).toMatchObject({ state: 'failed', error: 'style', failures: 1 });
  });

  it('a required node failing fails the run and cancels the rest; a late report from a cancelled node is ignored', async () => {
    const { t, events } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b' }, { id: 'c', needs: ['a'] }] });
    t.start(run, 'a');
    t.start(run, 'b');
    const r = t.fail(run, 'a', new Error('disk full'));
    expect(r.decision).toEqual({
      action: 'fail',
      runFailed: true,
      skipped: [],
      cancelled: ['b', 'c'],
      rationale: "attempt 1 of 'a' failed (disk full); strategy 'fail': 'a' is required, so the run fails; cancelled: 'b', 'c'",
    });
    expect(r.state).toBe('failed');
    const s = t.status(run);
    expect(s.reason).toBe("required node 'a' failed: disk full");
    expect(states(s)).toEqual({ a: 'failed', b: 'cancelled', c: 'cancelled' });
    expect(t.complete(run, 'b', 'late').ignored).toMatch(/node 'b' was cancelled/);
    expect(t.fail(run, 'b', 'late').ignored).toMatch(/node 'b' was cancelled/);
    expect(t.status(run).nodes.b!.output).toBeUndefined();
    expect(events.filter((e) => e.type === 'run').at(-1)!.data).toMatchObject({ from: 'running', to: 'failed' });
  });

  it('refuses calls in the wrong state with -32600, and unknown runs or nodes with -32602', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }] });
    const e1 = caught(() => t.start(run, 'b'));
    expect(e1).toBeInstanceOf(InvalidRequestError);
    expect(e1.code).toBe(ErrorCode.InvalidRequest);
    expect(e1.message).toBe("dag.start: node 'b' of run '" + run + "' is pending, not ready: waiting for its dependencies");
    expect(caught(() => t.complete(run, 'a')).message).toMatch(/is ready, not running \(call dag.start first\)/);
    t.start(run, 'a');
    expect(caught(() => t.start(run, 'a')).message).toMatch(/is running, not ready/);
    const e2 = caught(() => t.ready('nope'));
    expect([e2.code, e2.message, (e2.data as { field: string }).field]).toEqual([ErrorCode.InvalidParams, "dag.ready: no run 'nope'", 'run']);
    expect((caught(() => t.start(run, 'zz')).data as { field: string }).field).toBe('node');
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(caught(() => t.complete(run, 'a', cyclic)).message).toMatch(/output of node 'a' is not JSON/);
    expect(t.status(run).nodes.a!.state).toBe('running');
  });

  it('cancel ends the run and cancels every unfinished node', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c' }] });
    pass(t, run, 'c');
    t.start(run, 'a');
    expect(t.cancel(run, 'user asked')).toEqual({ state: 'cancelled', cancelled: ['a', 'b'] });
    expect(t.status(run)).toMatchObject({ state: 'cancelled', reason: 'user asked', ready: [] });
    expect(t.cancel(run)).toEqual({ state: 'cancelled', cancelled: [] });
    expect(t.runs('cancelled').runs.map((r) => r.run)).toEqual([run]);
    expect(t.runs('running').runs).toEqual([]);
  });
});

describe('DagTracker: recovery', () => {
  it('backoff curves: constant, linear and exponential, capped by maxDelayMs', () => {
    const curve = (backoff: 'constant' | 'linear' | 'exponential') => [1, 2, 3, 4, 5].map((r) => backoffDelay({ backoff, delayMs: 100, maxDelayMs: 1000 }, r));
    expect(curve('constant')).toEqual([100, 100, 100, 100, 100]);
    expect(curve('linear')).toEqual([100, 200, 300, 400, 500]);
    expect(curve('exponential')).toEqual([100, 200, 400, 800, 1000]);
  });

  it('retry: each failure is retried after its backoff (the node turns ready by itself), then `then` applies', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { t, events } = await tracker();
    const { run } = t.create({
      nodes: [{ id: 'fetch', recovery: { strategy: 'retry', retries: 3, backoff: 'exponential', delayMs: 100, maxDelayMs: 300, then: 'skip' } }, { id: 'use', needs: ['fetch'] }, { id: 'log', after: ['fetch'] }],
    });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect(t.start(run, 'fetch')).toEqual({ attempt });
      const r = t.fail(run, 'fetch', `timeout #${attempt}`);
      if (attempt === 4) {
        expect(r.decision).toEqual({
          action: 'skip',
          skipped: ['fetch', 'use'],
          rationale: "attempt 4 of 'fetch' failed (timeout #4); retries exhausted (3), then 'skip': 'fetch' is skipped, and with it its hard dependents 'use'; soft dependents go on",
        });
        expect(r.ready).toEqual(['log']);
        break;
      }
      expect(r.decision.action).toBe('retry');
      if (r.decision.action !== 'retry') return;
      delays.push(r.decision.delayMs);
      expect(r.decision.attempt).toBe(attempt + 1);
      expect(t.status(run).nodes.fetch).toMatchObject({ state: 'retrying', readyAt: Date.now() + r.decision.delayMs });
      expect(t.ready(run).ready).toEqual([]);
      vi.advanceTimersByTime(r.decision.delayMs - 1);
      expect(t.ready(run).ready).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(t.ready(run).ready).toEqual(['fetch']);
    }
    expect(delays).toEqual([100, 200, 300]);
    const first = events.find((e) => e.data.to === 'retrying')!.data.reason;
    expect(first).toBe("attempt 1 of 'fetch' failed (timeout #1); retry 1 of 3 in 100ms (exponential 100ms x 2^0), as attempt 2");
    expect(events.filter((e) => e.data.to === 'retrying')[2]!.data.reason).toMatch(/retry 3 of 3 in 300ms \(exponential 100ms x 2\^2, capped at 300ms\)/);
    expect(pass(t, run, 'log').state).toBe('succeeded');
    expect(t.status(run).nodes.fetch).toMatchObject({ state: 'skipped', attempts: 4, failures: 4, error: 'timeout #4' });
  });

  it('retry delays follow the linear and constant curves too, and a 0 delay is ready at once', async () => {
    const { t } = await tracker();
    const delaysOf = (backoff: 'constant' | 'linear') => {
      const { run } = t.create({ nodes: [{ id: 'x', recovery: { strategy: 'retry', retries: 3, backoff, delayMs: 0 } }] });
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        t.start(run, 'x');
        const r = t.fail(run, 'x', 'e');
        if (r.decision.action === 'retry') seen.push(r.decision.delayMs);
        expect(r.ready).toEqual(['x']);
      }
      return seen;
    };
    expect(delaysOf('constant')).toEqual([0, 0, 0]);
    const { run } = t.create({ nodes: [{ id: 'x', recovery: { strategy: 'retry', retries: 2, backoff: 'linear', delayMs: 50 } }] });
    t.start(run, 'x');
    expect(t.fail(run, 'x', 'e').decision).toMatchObject({ action: 'retry', delayMs: 50, attempt: 2, rationale: expect.stringContaining('(linear 50ms x 1)') });
    await vi.waitUntil(() => t.ready(run).ready.length === 1, { timeout: 2000 });
    t.start(run, 'x');
    expect(t.fail(run, 'x', 'e').decision).toMatchObject({ action: 'retry', delayMs: 100, attempt: 3, rationale: expect.stringContaining('(linear 50ms x 2)') });
    t.cancel(run);
  });

  it('retries run out into `fail` by default', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'x', recovery: { strategy: 'retry', retries: 1, delayMs: 0 } }] });
    t.start(run, 'x');
    expect(t.fail(run, 'x', 'e1').decision.action).toBe('retry');
    t.start(run, 'x');
    const r = t.fail(run, 'x', 'e2');
    expect(r.decision).toMatchObject({ action: 'fail', runFailed: true, rationale: "attempt 2 of 'x' failed (e2); retries exhausted (1), then 'fail': 'x' is required, so the run fails" });
    expect(r.state).toBe('failed');
  });

  it('a final failure (a new attempt cannot change it) skips the retries: its `then` applies at once', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'x', recovery: { strategy: 'retry', retries: 3, delayMs: 0, then: 'skip' } }] });
    t.start(run, 'x');
    const r = t.fail(run, 'x', 'refused by the budget', true);
    expect(r.decision).toMatchObject({ action: 'skip', rationale: expect.stringContaining("not retried (the failure cannot change on a new attempt), then 'skip'") });
  });

  it('fallback: the fallback stands by, runs in the failed node\'s place, and its dependents follow it', async () => {
    const { t } = await tracker();
    const wf: Workflow = {
      nodes: [
        { id: 'src' },
        { id: 'gpu', needs: ['src'], recovery: { strategy: 'fallback', fallback: 'cpu' } },
        { id: 'cpu', needs: ['src'] },
        { id: 'publish', needs: ['gpu'] },
        { id: 'notify', after: ['gpu'] },
      ],
    };
    const { run } = t.create(wf);
    expect(pass(t, run, 'src').ready).toEqual(['gpu']); // cpu stands by
    expect(t.status(run).nodes.cpu).toMatchObject({ state: 'pending', reason: "standing by as the fallback of 'gpu'" });
    t.start(run, 'gpu');
    const r = t.fail(run, 'gpu', 'no GPU');
    expect(r.decision).toEqual({
      action: 'fallback',
      node: 'cpu',
      rationale: "attempt 1 of 'gpu' failed (no GPU); strategy 'fallback': fallback 'cpu' runs in its place (it is ready now); its dependents ('publish', 'notify') follow the outcome of 'cpu'",
    });
    expect(r.ready).toEqual(['cpu']);
    expect(t.status(run).nodes.gpu).toMatchObject({ state: 'failed', fallback: 'cpu' });
    expect(pass(t, run, 'cpu', 'slow but fine')).toMatchObject({ ready: ['publish', 'notify'], state: 'running' });
    pass(t, run, 'publish');
    expect(pass(t, run, 'notify').state).toBe('succeeded');

    // The primary succeeds: the fallback is not needed.
    const two = t.create(wf).run;
    pass(t, two, 'src');
    expect(pass(t, two, 'gpu').released).toEqual(['publish', 'notify']);
    expect(t.status(two).nodes.cpu).toMatchObject({ state: 'skipped', reason: "not needed: 'gpu' succeeded" });

    // The fallback fails too: it stands in for a required node, so the run fails.
    const three = t.create(wf).run;
    pass(t, three, 'src');
    t.start(three, 'gpu');
    t.fail(three, 'gpu', 'no GPU');
    t.start(three, 'cpu');
    expect(t.fail(three, 'cpu', 'oom')).toMatchObject({ state: 'failed', decision: { action: 'fail', runFailed: true } });
  });

  it('fallback chains, retries then fallback, and a fallback of an optional node is optional', async () => {
    const { t } = await tracker();
    const { run } = t.create({
      nodes: [
        { id: 'a', recovery: { strategy: 'retry', retries: 1, delayMs: 0, then: 'fallback', fallback: 'b' } },
        { id: 'b', recovery: { strategy: 'fallback', fallback: 'c' } },
        { id: 'c' },
        { id: 'd', needs: ['a'] },
      ],
    });
    t.start(run, 'a');
    t.fail(run, 'a', 'x');
    t.start(run, 'a');
    expect(t.fail(run, 'a', 'y').decision).toMatchObject({ action: 'fallback', node: 'b', rationale: expect.stringContaining("retries exhausted (1), then 'fallback'") });
    t.start(run, 'b');
    expect(t.fail(run, 'b', 'z').decision).toMatchObject({ action: 'fallback', node: 'c' });
    expect(pass(t, run, 'c').released).toEqual(['d']);
    expect(pass(t, run, 'd').state).toBe('succeeded');

    const opt = t.create({ nodes: [{ id: 'p', optional: true, recovery: { strategy: 'fallback', fallback: 'f' } }, { id: 'f' }, { id: 'q', needs: ['p'] }, { id: 'r' }] }).run;
    t.start(opt, 'p');
    t.fail(opt, 'p', 'x');
    t.start(opt, 'f');
    const r = t.fail(opt, 'f', 'y');
    expect(r.decision).toMatchObject({ action: 'fail', runFailed: false, skipped: ['q'], rationale: expect.stringContaining("it stands in for the optional 'p'") });
    expect(pass(t, opt, 'r').state).toBe('succeeded');
  });

  it('skip: the node and its hard dependents are skipped transitively; soft dependents go on', async () => {
    const { t } = await tracker();
    const { run } = t.create({
      nodes: [{ id: 'a', recovery: { strategy: 'skip' } }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }, { id: 'd', after: ['b'] }, { id: 'e', needs: ['d'] }],
    });
    t.start(run, 'a');
    const r = t.fail(run, 'a', 'nope');
    expect(r.decision).toEqual({
      action: 'skip',
      skipped: ['a', 'b', 'c'],
      rationale: "attempt 1 of 'a' failed (nope); strategy 'skip': 'a' is skipped, and with it its hard dependents 'b', 'c'; soft dependents go on",
    });
    expect(r.ready).toEqual(['d']);
    pass(t, run, 'd');
    expect(pass(t, run, 'e').state).toBe('succeeded');
  });
});

describe('DagTracker: validation', () => {
  const reject = async (wf: unknown) => {
    const { t } = await tracker();
    const err = caught(() => t.create(wf as Workflow));
    expect(err).toBeInstanceOf(InvalidParamsError);
    expect(err.code).toBe(ErrorCode.InvalidParams);
    return err;
  };

  it('prints a cycle as a path and names the node and the field', async () => {
    const e = await reject({ nodes: [{ id: 'a', needs: ['c'] }, { id: 'b', needs: ['a'] }, { id: 'c', after: ['b'] }] });
    expect(e.message).toBe("dag.create: workflow.nodes.0.needs (node 'a'): dependency cycle a -> c -> b -> a (x -> y: x waits for y through needs, after or a fallback)");
    expect(e.data).toEqual({ method: 'dag.create', field: 'workflow.nodes.0.needs', node: 'a' });
    expect((await reject({ nodes: [{ id: 'self', needs: ['self'] }] })).message).toMatch(/node 'self'\): dependency cycle self -> self/);
  });

  it('finds cycles through fallbacks: a node that needs its own fallback would deadlock', async () => {
    expect((await reject({ nodes: [{ id: 'p', needs: ['f'], recovery: { strategy: 'fallback', fallback: 'f' } }, { id: 'f' }] })).message).toMatch(/dependency cycle p -> f -> p/);
    expect((await reject({ nodes: [{ id: 'p', recovery: { strategy: 'fallback', fallback: 'f' } }, { id: 'f', needs: ['d'] }, { id: 'd', needs: ['p'] }] })).message).toMatch(/cycle (f -> d -> p -> f|d -> p -> f -> d)/);
  });

  it('rejects unknown ids, duplicates and bad fallbacks, naming the node and the field', async () => {
    expect((await reject({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a', 'x'] }] })).message).toBe("dag.create: workflow.nodes.1.needs.1 (node 'b'): unknown node 'x'");
    expect((await reject({ nodes: [{ id: 'a', after: ['y'] }] })).data).toMatchObject({ field: 'workflow.nodes.0.after.0', node: 'a' });
    expect((await reject({ nodes: [{ id: 'a' }, { id: 'b' }, { id: 'a' }] })).message).toBe("dag.create: workflow.nodes.2.id (node 'a'): duplicate node id (first declared at workflow.nodes.0)");
    expect((await reject({ nodes: [{ id: 'a', recovery: { strategy: 'fallback', fallback: 'ghost' } }] })).message).toBe("dag.create: workflow.nodes.0.recovery.fallback (node 'a'): unknown node 'ghost'");
    expect((await reject({ nodes: [{ id: 'a', recovery: { strategy: 'fallback' } }] })).message).toMatch(/recovery.fallback \(node 'a'\): strategy 'fallback' needs a fallback node/);
    expect((await reject({ nodes: [{ id: 'a', recovery: { strategy: 'retry', fallback: 'b' } }, { id: 'b' }] })).message).toMatch(/fallback 'b' is set but never used/);
    expect((await reject({ nodes: [{ id: 'a', recovery: { strategy: 'fallback', fallback: 'c' } }, { id: 'b', recovery: { strategy: 'fallback', fallback: 'c' } }, { id: 'c' }] })).message).toMatch(/node 'c' is already the fallback of 'a'/);
    expect((await reject({ nodes: [{ id: 'a', need: ['b'] }] })).message).toBe('dag.create: workflow.nodes.0.need: unknown field "need" (a node has: id, needs, after, optional, recovery, data)');
    expect((await reject({ nodes: [{ id: 'a', recovery: { strategy: 'retry', then: 'retry' } }] })).message).toMatch(/workflow.nodes.0.recovery.then/);
    expect((await reject({ nodes: [] })).message).toBe('dag.create: workflow.nodes: a workflow needs at least one node');
  });
});

describe('DagTracker: persistence', () => {
  it('a run survives a restart: states and outputs stay, running nodes are ready again, retries re-armed', async () => {
    const first = await tracker();
    const t1 = first.t;
    const wf: Workflow = {
      id: 'survivor',
      nodes: [
        { id: 'a', data: { step: 'download' } },
        { id: 'b', needs: ['a'] },
        { id: 'c', needs: ['a'], recovery: { strategy: 'retry', retries: 2, backoff: 'constant', delayMs: 150 } },
        { id: 'd', needs: ['b', 'c'] },
        { id: 'e', optional: true },
        { id: 'f', needs: ['e'] },
      ],
    };
    const { run } = t1.create(wf);
    pass(t1, run, 'a', { bytes: 42 });
    t1.start(run, 'b');
    t1.start(run, 'c');
    expect(t1.fail(run, 'c', 'flaky').decision).toMatchObject({ action: 'retry', delayMs: 150 });
    t1.start(run, 'e');
    t1.fail(run, 'e', 'meh');
    const finished = t1.create({ nodes: [{ id: 'only' }] }).run;
    pass(t1, finished, 'only', [1, 2, 3]);
    await close(t1);

    const second = await tracker(first.dir);
    const t2 = second.t;
    const s = t2.status(run);
    expect(s.state).toBe('running');
    expect(states(s)).toEqual({ a: 'succeeded', b: 'ready', c: 'retrying', d: 'pending', e: 'failed', f: 'skipped' });
    expect(s.nodes.a!.output).toEqual({ bytes: 42 });
    expect(s.nodes.b).toMatchObject({ attempts: 1, failures: 0, reason: 'attempt 1 was interrupted by a restart: ready again (the attempt stays counted, it is not a failure)' });
    expect(s.nodes.e).toMatchObject({ error: 'meh' });
    expect(second.events.find((e) => e.data.node === 'b')!.data).toMatchObject({ from: 'running', to: 'ready' });
    expect(t2.status(finished)).toMatchObject({ state: 'succeeded', nodes: { only: { output: [1, 2, 3] } } });
    expect(t2.health()).toMatchObject({ status: 'healthy', detail: { stats: { resumed: 1, interrupted: 1 } } });

    expect(t2.start(run, 'b')).toEqual({ attempt: 2 });
    t2.complete(run, 'b');
    await vi.waitUntil(() => t2.ready(run).ready.includes('c'), { timeout: 3000 });
    expect(t2.start(run, 'c')).toEqual({ attempt: 2 });
    expect(t2.complete(run, 'c').released).toEqual(['d']);
    expect(pass(t2, run, 'd').state).toBe('succeeded');
    expect(t2.runs().runs.map((r) => [r.run, r.state])).toEqual([
      [finished, 'succeeded'],
      [run, 'succeeded'],
    ]);
  });

  it('batched: what a turn changed is on disk once the turn ends, without a shutdown (a crash loses at most the current turn)', async () => {
    const { t, dir } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }] });
    pass(t, run, 'a', 'kept');
    t.start(run, 'b');
    await new Promise((r) => setImmediate(r));
    // A second tracker on the same file while the first still runs: what a restart after a kill -9 would see.
    const { t: other } = await tracker(dir);
    expect(states(other.status(run))).toEqual({ a: 'succeeded', b: 'ready' });
    expect(other.status(run).nodes.a!.output).toBe('kept');
  });

  it('commit: each call is on disk before it returns', async () => {
    const { t, dir } = await tracker(undefined, { durability: 'commit' });
    const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }] });
    pass(t, run, 'a', 'now');
    const { t: other } = await tracker(dir);
    expect(other.status(run).nodes.a).toMatchObject({ state: 'succeeded', output: 'now' });
  });

  it('finished runs leave memory beyond keepFinished but are still answered from the database', async () => {
    const { t } = await tracker(undefined, { keepFinished: 1 });
    const runs = [1, 2, 3].map(() => {
      const { run } = t.create({ id: 'tiny', nodes: [{ id: 'x' }] });
      pass(t, run, 'x', run);
      return run;
    });
    expect(t.health()).toMatchObject({ detail: { runs: { succeeded: 1 } } });
    expect(t.status(runs[0]!).nodes.x!.output).toBe(runs[0]);
    expect(t.runs('succeeded').runs).toHaveLength(3);
    expect(t.snapshot()).toMatchObject({ version: 1, db: 'dag.db' });
  });

  it('refuses calls after shutdown (a change then would be lost silently)', async () => {
    const { t } = await tracker();
    const { run } = t.create({ nodes: [{ id: 'x' }] });
    await close(t);
    expect(caught(() => t.start(run, 'x')).message).toMatch(/not running/);
    expect(t.health()).toMatchObject({ status: 'unhealthy' });
  });

  it('rejects a run id already used, even by a finished run no longer in memory', async () => {
    const { t } = await tracker(undefined, { keepFinished: 0 });
    const { run } = t.create({ nodes: [{ id: 'x' }] }, { run: 'melody-1' });
    expect(run).toBe('melody-1');
    pass(t, run, 'x');
    expect(caught(() => t.create({ nodes: [{ id: 'x' }] }, { run: 'melody-1' })).message).toBe("dag.create: a run 'melody-1' already exists");
  });
});

describe('DagTracker: through the bus', () => {
  it('serves dag.* on a real Bus and publishes its events', async () => {
    const bus = new Bus();
    const { t } = await tracker(undefined, {}, bus);
    for (const [method, handler] of Object.entries(t.methods)) bus.handle(method, handler);
    const seen: string[] = [];
    bus.subscribe('pit.dag.>', (ev: { data: { node?: string; to: string } }) => void seen.push(`${ev.data.node ?? 'run'}:${ev.data.to}`));
    const { run, ready } = await bus.request<{ run: string; ready: string[] }>('dag.create', {
      workflow: { id: 'bus', nodes: [{ id: 'a' }, { id: 'b', needs: ['a'], recovery: { strategy: 'skip' } }, { id: 'c', after: ['b'] }] },
    });
    expect(ready).toEqual(['a']);
    expect(await bus.request('dag.start', { run, node: 'a' })).toEqual({ attempt: 1 });
    expect(await bus.request('dag.complete', { run, node: 'a', output: { ok: true } })).toEqual({ ready: ['b'], released: ['b'], state: 'running' });
    await bus.request('dag.start', { run, node: 'b' });
    const f = await bus.request<{ decision: { action: string }; ready: string[] }>('dag.fail', { run, node: 'b', error: { message: 'bad input', code: 7 } });
    expect([f.decision.action, f.ready]).toEqual(['skip', ['c']]);
    expect(await bus.request('dag.ready', { run })).toEqual({ ready: ['c'] });
    await bus.request('dag.start', { run, node: 'c' });
    expect(await bus.request('dag.complete', { run, node: 'c' })).toMatchObject({ state: 'succeeded' });
    const status = await bus.request<RunStatus>('dag.status', { run });
    expect(states(status)).toEqual({ a: 'succeeded', b: 'skipped', c: 'succeeded' });
    expect(status.nodes.b!.error).toBe('bad input');
    expect(await bus.request('dag.runs', { state: 'succeeded' })).toMatchObject({ runs: [{ run, workflow: 'bus', state: 'succeeded' }] });
    const other = await bus.request<{ run: string }>('dag.create', { workflow: { nodes: [{ id: 'z' }] } });
    expect(await bus.request('dag.cancel', { run: other.run })).toEqual({ state: 'cancelled', cancelled: ['z'] });

    const bad = (await bus.request('dag.create', { workflow: { nodes: [{ id: 'a', needs: ['a'] }] } }).catch((e: unknown) => e)) as BusError;
    expect([bad.code, bad.message]).toEqual([ErrorCode.InvalidParams, expect.stringContaining('cycle a -> a')]);
    const wrong = (await bus.request('dag.start', { run, node: 'a' }).catch((e: unknown) => e)) as BusError;
    expect(wrong.code).toBe(ErrorCode.InvalidRequest);
    const missing = (await bus.request('dag.fail', { run, node: 'a' }).catch((e: unknown) => e)) as BusError;
    expect([missing.code, missing.message]).toEqual([ErrorCode.InvalidParams, expect.stringMatching(/^dag.fail: error: /)]);
    await vi.waitUntil(() => seen.includes('run:succeeded'));
    expect(seen.slice(0, 3)).toEqual(['run:running', 'a:ready', 'a:running']);
    await bus.stop();
  });
});

// ---- property test ---------------------------------------------------------------------------

interface Plan {
  needs: number;
  after: number;
  optional: boolean;
  recovery: 'none' | 'retry' | 'skip' | 'fail' | 'fallback';
  retries: number;
  then: 'fail' | 'skip' | 'fallback';
  fbNeeds: number;
  fbOptional: boolean;
  fbRecovery: 'none' | 'retry' | 'skip';
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  needs: fc.nat(),
  after: fc.nat(),
  optional: fc.boolean(),
  recovery: fc.constantFrom('none', 'retry', 'skip', 'fail', 'fallback'),
  retries: fc.integer({ min: 0, max: 2 }),
  then: fc.constantFrom('fail', 'skip', 'fallback'),
  fbNeeds: fc.nat(),
  fbOptional: fc.boolean(),
  fbRecovery: fc.constantFrom('none', 'retry', 'skip'),
});

/** Random DAG: node i may depend on nodes before it (sparse masks); fallbacks are extra nodes needing a subset of their primary's needs. */
function buildWorkflow(plans: Plan[]): Workflow {
  const nodes: WorkflowNode[] = [];
  const fallbacks: WorkflowNode[] = [];
  plans.forEach((p, i) => {
    const pick = (mask: number) => Array.from({ length: i }, (_, j) => j).filter((j) => (mask >> (j % 30)) & 1 && (mask >> ((j + 7) % 30)) & 1).map((j) => `n${j}`);
    const needs = pick(p.needs);
    const after = pick(p.after).filter((d) => !needs.includes(d));
    const node: WorkflowNode = { id: `n${i}`, needs, after, optional: p.optional };
    const wantsFallback = p.recovery === 'fallback' || (p.recovery === 'retry' && p.then === 'fallback');
    if (p.recovery === 'retry') node.recovery = { strategy: 'retry', retries: p.retries, delayMs: 0, then: p.then };
    else if (p.recovery !== 'none') node.recovery = { strategy: p.recovery };
    if (wantsFallback) {
      const fb: WorkflowNode = { id: `f${i}`, needs: needs.filter((_, k) => (p.fbNeeds >> k) & 1), optional: p.fbOptional };
      if (p.fbRecovery === 'retry') fb.recovery = { strategy: 'retry', retries: 1, delayMs: 0 };
      if (p.fbRecovery === 'skip') fb.recovery = { strategy: 'skip' };
      node.recovery!.fallback = fb.id;
      fallbacks.push(fb);
    }
    nodes.push(node);
  });
  return { id: 'prop', nodes: [...nodes, ...fallbacks] };
}

describe('DagTracker: property', () => {
  it('random DAGs and outcomes, with restarts: no node starts early, every run ends, and the end state obeys the rules', async () => {
    const dir = await tempDir();
    let t = (await tracker(dir)).t;
    let restarts = 0;
    let outcomes = { succeeded: 0, failed: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(planArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(99), { minLength: 1, maxLength: 50 }), fc.nat(60), async (plans, rolls, restartAt) => {
        const wf = buildWorkflow(plans);
        const spec = new Map(wf.nodes.map((n) => [n.id, n]));
        const primaryOf = new Map<string, string>();
        for (const n of wf.nodes) if (n.recovery?.fallback) primaryOf.set(n.recovery.fallback, n.id);
        const optional = (id: string): boolean => spec.get(id)!.optional === true || (primaryOf.has(id) && optional(primaryOf.get(id)!));
        // What dependents of `id` see: its state, or its fallback's when it handed over.
        const outcome = (s: RunStatus, id: string): string => {
          const n = s.nodes[id]!;
          return n.state === 'failed' && n.fallback ? outcome(s, n.fallback) : n.state;
        };
        const settled = (st: string) => ['succeeded', 'failed', 'skipped', 'cancelled'].includes(st);

        const { run } = t.create(wf);
        let k = 0;
        const roll = () => rolls[k++ % rolls.length]! + k;
        const running: string[] = [];
        let steps = 0;
        for (;;) {
          let s = t.status(run);
          if (s.state !== 'running') break;
          expect(++steps).toBeLessThan(2000);
          if (steps === restartAt) {
            // Restart mid-run: a new tracker on the same database; running nodes come back ready.
            await close(t);
            t = (await tracker(dir)).t;
            restarts++;
            const after = t.status(run);
            for (const id of running) expect(after.nodes[id]).toMatchObject({ state: 'ready', attempts: s.nodes[id]!.attempts });
            running.length = 0;
            s = after;
          }
          const ready = s.ready;
          // With zero delays nothing waits on a timer: a running run always has something ready or running.
          expect(ready.length + running.length).toBeGreaterThan(0);
          if (ready.length && (running.length === 0 || roll() % 2 === 0)) {
            const id = ready[roll() % ready.length]!;
            const node = spec.get(id)!;
            for (const d of node.needs ?? []) expect(outcome(s, d)).toBe('succeeded');
            for (const d of node.after ?? []) expect(settled(outcome(s, d))).toBe(true);
            if (primaryOf.has(id)) expect(s.nodes[primaryOf.get(id)!]).toMatchObject({ state: 'failed', fallback: id });
            t.start(run, id);
            running.push(id);
          } else {
            const id = running.splice(roll() % running.length, 1)[0]!;
            if (roll() % 100 < 35) t.fail(run, id, `failure of ${id}`);
            else t.complete(run, id, { id });
          }
        }
        const s = t.status(run);
        outcomes[s.state as 'succeeded' | 'failed']++;
        for (const [id, n] of Object.entries(s.nodes)) {
          expect(settled(n.state), `${id} is ${n.state}`).toBe(true);
          if (n.state === 'succeeded') for (const d of spec.get(id)!.needs ?? []) expect(outcome(s, d)).toBe('succeeded');
          if (n.state === 'skipped') {
            const own = n.failures > 0; // its own recovery chose skip
            const needFailed = (spec.get(id)!.needs ?? []).some((d) => outcome(s, d) !== 'succeeded');
            const notNeeded = primaryOf.has(id) && s.nodes[primaryOf.get(id)!]!.fallback !== id;
            expect(own || needFailed || notNeeded, `${id} skipped: ${n.reason}`).toBe(true);
          }
        }
        const failedForGood = Object.entries(s.nodes).filter(([id, n]) => n.state === 'failed' && !n.fallback && !optional(id));
        if (s.state === 'succeeded') {
          expect(failedForGood).toEqual([]);
          expect(Object.values(s.nodes).some((n) => n.state === 'cancelled')).toBe(false);
        } else {
          expect(s.state).toBe('failed');
          expect(failedForGood.length).toBe(1);
        }
      }),
      { seed: 20240611, numRuns: 250 },
    );
    expect(restarts).toBeGreaterThan(10);
    expect(outcomes.succeeded).toBeGreaterThan(20);
    expect(outcomes.failed).toBeGreaterThan(20);
    outcomes = { succeeded: 0, failed: 0 };
  });
});
