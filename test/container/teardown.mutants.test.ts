/**
 * Reverse-dependency teardown (src/container/teardown.ts), the order and deadlines the kernel's
 * stop and rollback rely on: each test kills mutants that survived the container and kernel
 * tests (see docs/testing.md). Timings use margins of 100 ms or more against what a broken
 * teardown would do (stop at once, or never).
 */
import { describe, expect, it } from 'vitest';
import { BrutalKillError, StopError, StopTimeoutError, teardownIndexed, teardownInReverse, type StopSignals } from '../../src/container/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Node {
  name: string;
  deps: Node[];
  stop?: (signal: AbortSignal) => unknown;
  timeoutMs?: number;
}

function node(name: string, deps: Node[] = [], extra: Partial<Node> = {}): Node {
  return { name, deps, ...extra };
}

/** Runs teardownInReverse over nodes, journaling starts and ends of each stop. */
async function run(nodes: Node[]) {
  const journal: string[] = [];
  const stopped: string[] = [];
  const errors = await teardownInReverse(nodes, {
    dependenciesOf: (n) => n.deps,
    stop: (n, signal) => {
      journal.push(`stop:${n.name}`);
      return n.stop?.(signal);
    },
    timeoutMs: (n) => n.timeoutMs ?? 2000,
    describe: (n) => n.name,
    onStopping: (n) => journal.push(`stopping:${n.name}`),
    onStopped: (n, error) => {
      stopped.push(n.name);
      journal.push(error ? `failed:${n.name}:${error.name}` : `stopped:${n.name}`);
    },
  });
  return { errors, journal, stopped };
}

describe('teardown order', () => {
  it('stops dependents first; a chain a <- b <- c stops c, b, a', async () => {
    const a = node('a');
    const b = node('b', [a]);
    const c = node('c', [b]);
    const { errors, stopped } = await run([a, b, c]);
    expect(errors).toEqual([]);
    expect(stopped).toEqual(['c', 'b', 'a']);
  });

  it('a node listed twice is stopped once', async () => {
    const a = node('a');
    const b = node('b', [a]);
    const { stopped } = await run([a, b, a, b]);
    expect(stopped).toEqual(['b', 'a']);
  });

  it('an edge to a node outside the set is ignored, and so is an edge to itself', async () => {
    const outside = node('outside');
    const a = node('a', [outside], { stop: () => sleep(150) });
    const self = node('self', [], { stop: () => sleep(150) });
    self.deps.push(self);
    const t0 = performance.now();
    const { errors, journal } = await run([a, self]);
    expect(errors).toEqual([]);
    expect(journal).not.toContain('stop:outside');
    // Both are roots, so they stop together: both began before either ended.
    expect(journal.slice(0, 4).sort()).toEqual(['stop:a', 'stop:self', 'stopping:a', 'stopping:self']);
    expect(performance.now() - t0).toBeLessThan(290);
  });

  it('a diamond: the two middles stop together, after the top and before the base', async () => {
    const base = node('base');
    const left = node('left', [base], { stop: () => sleep(100) });
    const right = node('right', [base], { stop: () => sleep(100) });
    const top = node('top', [left, right]);
    const { journal } = await run([base, left, right, top]);
    expect(journal).toEqual([
      'stopping:top', 'stop:top', 'stopped:top',
      'stopping:left', 'stopping:right', 'stop:left', 'stop:right',
      'stopped:left', 'stopped:right',
      'stopping:base', 'stop:base', 'stopped:base',
    ]);
  });

  it('every stopping event of a batch comes before its stops are called', async () => {
    const { journal } = await run([node('x'), node('y'), node('z')]);
    expect(journal.slice(0, 6)).toEqual(['stopping:x', 'stopping:y', 'stopping:z', 'stop:x', 'stop:y', 'stop:z']);
  });

  it('a cycle (no node without dependents) is still stopped, in reverse of the given order', async () => {
    const a = node('a');
    const b = node('b', [a]);
    a.deps.push(b);
    const c = node('c', [b]);
    c.deps.length = 0;
    b.deps.push(c);
    c.deps.push(b);
    const { errors, stopped } = await run([a, b, c]);
    expect(errors).toEqual([]);
    expect(stopped.sort()).toEqual(['a', 'b', 'c']);
    const pair = node('p');
    const q = node('q', [pair]);
    pair.deps.push(q);
    expect((await run([pair, q])).stopped).toEqual(['q', 'p']);
  });

  it('after a cycle is broken, the nodes that become free stop in order', async () => {
    // x and y depend on each other; z depends on nothing but x depends on z, so z is last.
    const z = node('z');
    const x = node('x', [z]);
    const y = node('y', [x]);
    x.deps.push(y);
    const { stopped } = await run([z, x, y]);
    expect(stopped).toEqual(['y', 'x', 'z']);
  });
});

describe('what a stop returns', () => {
  it('a failure is collected as a StopError naming the node, and the rest still stop', async () => {
    const a = node('a');
    const b = node('b', [a], { stop: () => { throw new TypeError('sync boom'); } });
    const c = node('c', [a], { stop: () => Promise.reject(new RangeError('async boom')) });
    const d = node('d', [a], { stop: () => { throw 'a string'; } });
    const { errors, stopped } = await run([a, b, c, d]);
    expect(stopped.at(-1)).toBe('a');
    expect(errors.map((e) => [e.name, e.message])).toEqual([
      ['StopError', "'b' failed to stop: TypeError: sync boom"],
      ['StopError', "'d' failed to stop: a string"],
      ['StopError', "'c' failed to stop: RangeError: async boom"],
    ]);
    expect(errors[0]).toBeInstanceOf(StopError);
    expect((errors[0] as StopError).component).toBe('b');
    expect((errors[0]!.cause as Error).message).toBe('sync boom');
  });

  it('a returned thenable or plain object is awaited; null and numbers are not', async () => {
    const base = node('base');
    let release!: () => void;
    const thenable = { then: (ok: () => void) => { release = ok; } };
    const t = node('t', [base], { stop: () => thenable });
    const order: string[] = [];
    const n = node('n', [base], { stop: () => null });
    const num = node('num', [base], { stop: () => 42 });
    const plain = node('plain', [base], { stop: () => ({ not: 'a promise' }) });
    const done = run([base, t, n, num, plain]);
    await sleep(50);
    order.push('released');
    release();
    const { stopped, errors } = await done;
    expect(errors).toEqual([]);
    expect(stopped.slice(0, 2).sort()).toEqual(['n', 'num']);
    expect(stopped.slice(2, 4).sort()).toEqual(['plain', 't']);
    expect(stopped[4]).toBe('base');
  });

  it('a function-valued thenable is awaited like any thenable', async () => {
    const base = node('base');
    const fn = Object.assign(() => undefined, { then: (ok: () => void) => setTimeout(ok, 100) });
    const f = node('f', [base], { stop: () => fn });
    const t0 = performance.now();
    const { stopped } = await run([base, f]);
    expect(stopped).toEqual(['f', 'base']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
  });
});

describe('deadlines', () => {
  it('a slow stop inside its deadline is waited for, not timed out', async () => {
    const a = node('a', [], { stop: () => sleep(150), timeoutMs: 2000 });
    const { errors } = await run([a]);
    expect(errors).toEqual([]);
  });

  it('a stop past its deadline times out with its name and limit, its signal aborts with that error, and its dependency goes on', async () => {
    let reason: unknown;
    const base = node('base');
    const hung = node('hung', [base], {
      timeoutMs: 100,
      stop: (signal) => new Promise<void>(() => { signal.addEventListener('abort', () => (reason = signal.reason)); }),
    });
    const { errors, stopped } = await run([base, hung]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StopTimeoutError);
    expect(errors[0]!.message).toBe("'hung' did not stop within 100ms");
    expect((errors[0] as StopTimeoutError).timeoutMs).toBe(100);
    expect(reason).toBe(errors[0]);
    expect(stopped).toEqual(['hung', 'base']);
  });

  it('a stop that ends after timing out is counted once', async () => {
    const base = node('base');
    const late = node('late', [base], { timeoutMs: 80, stop: () => sleep(200) });
    const r = await run([base, late]);
    await sleep(250);
    expect(r.stopped).toEqual(['late', 'base']);
    expect(r.errors.map((e) => e.name)).toEqual(['StopTimeoutError']);
  });

  it('no deadline (Infinity): waited for however long, and no timer is set', async () => {
    const a = node('a', [], { stop: () => sleep(150), timeoutMs: Infinity });
    const { errors } = await run([a]);
    expect(errors).toEqual([]);
  });

  it('a stop that began later under the same timeout gets its own deadline, not the first one\'s', async () => {
    // hung (600 ms) and later (600 ms) share one timer. later begins 200 ms in, once first has
    // stopped, and takes 500 ms: it ends at ~700, inside its own deadline (~800), after hung's (600).
    const later = node('later', [], { timeoutMs: 600, stop: () => sleep(500) });
    const first = node('first', [later], { timeoutMs: 5000, stop: () => sleep(200) });
    const hung = node('hung', [], { timeoutMs: 600, stop: () => new Promise(() => {}) });
    const { errors, stopped } = await run([later, first, hung]);
    expect(errors.map((e) => e.message)).toEqual(["'hung' did not stop within 600ms"]);
    expect(stopped).toEqual(['first', 'hung', 'later']);
  });

  it('a hung stop that began later under the same timeout times out at its own deadline (the timer re-arms)', async () => {
    // hung1 and hung2 share the 600 ms timer; hung2 begins ~200 ms in. After hung1 times out at
    // ~600, the timer must re-arm for hung2's deadline (~800), neither never nor much later.
    const hung2 = node('hung2', [], { timeoutMs: 600, stop: () => new Promise(() => {}) });
    const first = node('first', [hung2], { timeoutMs: 5000, stop: () => sleep(200) });
    const hung1 = node('hung1', [], { timeoutMs: 600, stop: () => new Promise(() => {}) });
    const t0 = performance.now();
    const { errors, stopped } = await run([hung2, first, hung1]);
    const elapsed = performance.now() - t0;
    expect(stopped).toEqual(['first', 'hung1', 'hung2']);
    expect(errors.map((e) => e.message)).toEqual(["'hung1' did not stop within 600ms", "'hung2' did not stop within 600ms"]);
    expect(elapsed).toBeGreaterThanOrEqual(780);
    expect(elapsed).toBeLessThan(1300);
  });

  it('a stop with no deadline (Infinity) runs with no timer armed for it', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    let during = -1;
    let release!: () => void;
    const done = run([node('forever', [], { timeoutMs: Infinity, stop: () => new Promise<void>((r) => (release = r)) })]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    during = timers();
    release();
    expect((await done).errors).toEqual([]);
    expect(during).toBe(before);
  });

  it('stops under different timeouts each get theirs', async () => {
    const a = node('a', [], { timeoutMs: 100, stop: () => new Promise(() => {}) });
    const b = node('b', [], { timeoutMs: 300, stop: () => new Promise(() => {}) });
    const c = node('c', [], { timeoutMs: 100, stop: () => new Promise(() => {}) });
    const t0 = performance.now();
    const { errors, stopped } = await run([a, b, c]);
    expect(stopped).toEqual(['a', 'c', 'b']);
    expect(errors.map((e) => e.message)).toEqual(["'a' did not stop within 100ms", "'c' did not stop within 100ms", "'b' did not stop within 300ms"]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('a queue that emptied starts afresh for the next stop under its timeout', async () => {
    // a (100 ms deadline) ends quickly; b, launched after a, is under the same 100 ms timeout
    // and hangs: it must time out ~100 ms after it began.
    const b = node('b', [], { timeoutMs: 100, stop: () => new Promise(() => {}) });
    const a = node('a', [b], { timeoutMs: 100, stop: () => sleep(20) });
    const { errors, stopped } = await run([b, a]);
    expect(stopped).toEqual(['a', 'b']);
    expect(errors.map((e) => e.message)).toEqual(["'b' did not stop within 100ms"]);
  });

  it('leaves no timer behind once every stop has ended', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await run([node('a', [], { timeoutMs: 60_000, stop: () => sleep(10) }), node('b', [], { timeoutMs: 30_000, stop: () => sleep(10) })]);
    expect(timers()).toBe(before);
    // Two stops under one timeout share one timer: none is left armed after both end.
    await run([node('c', [], { timeoutMs: 60_000, stop: () => sleep(10) }), node('d', [], { timeoutMs: 60_000, stop: () => sleep(20) })]);
    expect(timers()).toBe(before);
  });
});

describe('the indexed form', () => {
  const chain = (n: number) => {
    // node i depends on node i-1
    const depStart = new Int32Array(n + 1);
    const depList: number[] = [];
    for (let i = 0; i < n; i++) {
      depStart[i] = depList.length;
      if (i > 0) depList.push(i - 1);
    }
    depStart[n] = depList.length;
    return { depStart, depList };
  };

  it('an empty plan resolves with no errors', async () => {
    expect(await teardownIndexed({ size: 0, depStart: new Int32Array(1), depList: [], stop: () => undefined, timeoutMs: () => 1, describe: () => 'x' })).toEqual([]);
  });

  it('a brutally killed node is not waited for: its signal is already aborted with BrutalKillError, a late rejection is dropped', async () => {
    const seen: unknown[] = [];
    const order: number[] = [];
    const t0 = performance.now();
    const errors = await teardownIndexed({
      size: 2,
      ...chain(2),
      brutal: (i) => i === 1,
      stop: (i, signals: StopSignals) => {
        if (i === 1) {
          const s = signals.signal(1);
          seen.push(s.aborted, s.reason);
          expect(signals.signal(1)).toBe(s);
          return sleep(300).then(() => Promise.reject(new Error('too late')));
        }
        order.push(i);
        return undefined;
      },
      timeoutMs: () => 5000,
      describe: (i) => `n${i}`,
      onStopped: (i) => order.push(10 + i),
    });
    expect(performance.now() - t0).toBeLessThan(250);
    expect(errors).toEqual([]);
    expect(seen[0]).toBe(true);
    expect(seen[1]).toBeInstanceOf(BrutalKillError);
    expect((seen[1] as Error).name).toBe('BrutalKillError');
    expect((seen[1] as Error).message).toBe("'n1' is brutally killed: its stop is not waited for");
    expect(order).toEqual([11, 0, 10]);
    await sleep(350); // the late rejection must not surface as an unhandled one
  });

  it('a node depending on itself (only the indexed form can say so) is still stopped', async () => {
    const stopped: number[] = [];
    const errors = await teardownIndexed({
      size: 1,
      depStart: new Int32Array([0, 1]),
      depList: [0],
      stop: (i) => void stopped.push(i),
      timeoutMs: () => 100,
      describe: () => 'loop',
    });
    expect(errors).toEqual([]);
    expect(stopped).toEqual([0]);
  });

  it('a timed-out node that never asked for its signal, beside one that did', async () => {
    let reason: unknown;
    const errors = await teardownIndexed({
      size: 2,
      depStart: new Int32Array([0, 0, 0]),
      depList: [],
      stop: (i, signals) => {
        if (i === 0) {
          const s = signals.signal(0);
          s.addEventListener('abort', () => (reason = s.reason));
          return sleep(50);
        }
        return new Promise(() => {});
      },
      timeoutMs: () => 100,
      describe: (i) => `n${i}`,
    });
    expect(reason).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual(["'n1' did not stop within 100ms"]);
  });

  it('a timeout with no signal asked for at all', async () => {
    const errors = await teardownIndexed({
      size: 1,
      depStart: new Int32Array([0, 0]),
      depList: [],
      stop: () => new Promise(() => {}),
      timeoutMs: () => 50,
      describe: () => 'only',
    });
    expect(errors.map((e) => e.message)).toEqual(["'only' did not stop within 50ms"]);
  });

  it('a signal asked for after the deadline passed comes already aborted', async () => {
    let late: AbortSignal | undefined;
    let signals!: StopSignals;
    const errors = await teardownIndexed({
      size: 1,
      depStart: new Int32Array([0, 0]),
      depList: [],
      stop: (_i, s) => ((signals = s), new Promise(() => {})),
      timeoutMs: () => 50,
      describe: () => 'slow',
    });
    late = signals.signal(0);
    expect(late.aborted).toBe(true);
    expect(late.reason).toBe(errors[0]);
  });
});
