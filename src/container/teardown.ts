/**
 * Reverse-dependency teardown, shared by the container's disposal and the kernel's stop and rollback:
 * a node is torn down only after every node that depends on it; independent nodes go concurrently;
 * each gets its own deadline; a failure or a timeout is collected and never blocks the rest.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { anchorShapes } from '../util/shapes.js';
import { microtask } from '../util/microtask.js';

export interface TeardownPlan<N> {
  /** The nodes that `node` depends on. Edges to nodes outside the set are ignored. */
  dependenciesOf(node: N): Iterable<N>;
  /** Tears one node down. The signal aborts when its deadline passes. */
  stop(node: N, signal: AbortSignal): unknown;
  /** Deadline for one node, in milliseconds. */
  timeoutMs(node: N): number;
  /** The node's name, for error messages. */
  describe(node: N): string;
  /** Called when a node begins and ends its teardown (`error` set when it failed). */
  onStopping?(node: N): void;
  onStopped?(node: N, error?: Error): void;
}

/** Thrown (collected) when a teardown step passes its deadline. */
export class StopTimeoutError extends Error {
  override name = 'StopTimeoutError';
  constructor(readonly component: string, readonly timeoutMs: number) {
    super(`'${component}' did not stop within ${timeoutMs}ms`);
  }
}

/** The reason a brutally killed node's stop signal carries (it is aborted before the stop is called). */
export class BrutalKillError extends Error {
  override name = 'BrutalKillError';
  constructor(readonly component: string) {
    super(`'${component}' is brutally killed: its stop is not waited for`);
  }
}

/** A teardown step that threw; `cause` holds what it threw. */
export class StopError extends Error {
  override name = 'StopError';
  constructor(readonly component: string, cause: unknown) {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`'${component}' failed to stop: ${text}`, { cause });
  }
}

/** Runs the plan; resolves with the errors collected (empty when every node stopped cleanly). */
export function teardownInReverse<N>(nodes: Iterable<N>, plan: TeardownPlan<N>): Promise<Error[]> {
  const list: N[] = [];
  const index = new Map<N, number>();
  for (const n of nodes) {
    if (index.has(n)) continue;
    index.set(n, list.length);
    list.push(n);
  }
  const depStart = new Int32Array(list.length + 1);
  const depList: number[] = [];
  for (let i = 0; i < list.length; i++) {
    depStart[i] = depList.length;
    for (const d of plan.dependenciesOf(list[i]!)) {
      const j = index.get(d);
      if (j === undefined || j === i || depList.indexOf(j, depStart[i]) >= 0) continue;
      depList.push(j);
    }
  }
  depStart[list.length] = depList.length;
  return teardownIndexed({
    size: list.length,
    depStart,
    depList,
    // This public form hands every stop its signal up front, as it always did.
    stop: (i, signals) => plan.stop(list[i]!, signals.signal(i)),
    timeoutMs: (i) => plan.timeoutMs(list[i]!),
    describe: (i) => plan.describe(list[i]!),
    onStopping: plan.onStopping && ((i) => plan.onStopping!(list[i]!)),
    onStopped: plan.onStopped && ((i, error) => plan.onStopped!(list[i]!, error)),
  });
}

/** The abort signals of a teardown's stops, made only for the stops that ask for theirs. */
export interface StopSignals {
  /** Node i's signal: it aborts (with a StopTimeoutError) when node i's deadline passes. */
  signal(i: number): AbortSignal;
}

/**
 * teardownInReverse over nodes numbered 0..size-1, for callers that have their nodes in an array
 * (the kernel): no map from node to number, no signal unless a stop asks for it.
 */
export interface IndexedTeardown {
  readonly size: number;
  /** Node i depends on depList[depStart[i] .. depStart[i + 1]): no duplicates, not itself. */
  readonly depStart: Int32Array;
  readonly depList: ArrayLike<number>;
  stop(i: number, signals: StopSignals): unknown;
  /** Node i's deadline; Infinity: no deadline, its stop is waited for however long it takes. */
  timeoutMs(i: number): number;
  /**
   * True when node i is brutally killed (OTP's brutal_kill): its stop is called with its signal
   * already aborted and is not waited for; the node counts as stopped at once.
   */
  brutal?(i: number): boolean;
  describe(i: number): string;
  onStopping?(i: number): void;
  onStopped?(i: number, error?: Error): void;
}

export function teardownIndexed(plan: IndexedTeardown): Promise<Error[]> {
  if (plan.size === 0) return Promise.resolve([]);
  return new Promise<Error[]>((resolve) => new Teardown(plan, resolve).begin());
}

/**
 * Node timers fire on the event loop's millisecond clock, which can run up to a millisecond behind
 * performance.now(): a deadline this close to now counts as passed when the timer fires.
 */
const TIMER_SLACK_MS = 1;

/**
 * The stops under way with one timeout value, in the order they began, which is also the order of
 * their deadlines. One timer, armed for the first stop still running, serves them all.
 */
class DeadlineQueue {
  readonly nodes: number[] = [];
  head = 0;
  running = 0;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly ms: number,
    /** Its place in the teardown's list of queues. */
    readonly index: number,
  ) {}
}

/** One teardown under way. */
class Teardown implements StopSignals {
  readonly #plan: IndexedTeardown;
  readonly #resolve: (errors: Error[]) => void;
  readonly #errors: Error[] = [];
  /** For each node, how many of its dependents are still up (it may stop at 0); -1 once launched. */
  readonly #remaining: Int32Array;
  /** 0: not stopping yet or stopping; 1: settled (stopped, failed or timed out). */
  readonly #settled: Uint8Array;
  readonly #deadline: Float64Array;
  /** Each watched node's queue, as an index into #queues (an array indexed by node would go sparse: nodes launch in any order). */
  readonly #queueOf: Int32Array;
  readonly #queues: DeadlineQueue[] = [];
  /** The queue used last: most nodes share one timeout. */
  #lastQueue: DeadlineQueue | undefined;
  #controllers: Map<number, AbortController> | undefined;
  #timedOut: Map<number, Error> | undefined;
  #left: number;
  #running = 0;
  /** Launched nodes whose stop is called at the next microtask, together. */
  #batch: number[] = [];
  #scheduled = false;

  constructor(plan: IndexedTeardown, resolve: (errors: Error[]) => void) {
    this.#plan = plan;
    this.#resolve = resolve;
    this.#left = plan.size;
    this.#remaining = new Int32Array(plan.size);
    this.#settled = new Uint8Array(plan.size);
    this.#deadline = new Float64Array(plan.size);
    this.#queueOf = new Int32Array(plan.size);
    const list = plan.depList;
    for (let e = 0; e < list.length; e++) this.#remaining[list[e]!]!++;
  }

  begin(): void {
    let roots = 0;
    for (let i = 0; i < this.#plan.size; i++) {
      if (this.#remaining[i] === 0) {
        roots++;
        this.#launch(i);
      }
    }
    if (roots === 0) this.#breakCycle();
  }

  signal(i: number): AbortSignal {
    const controllers = (this.#controllers ??= new Map());
    let c = controllers.get(i);
    if (!c) {
      c = new AbortController();
      const reason = this.#timedOut?.get(i);
      if (reason) c.abort(reason);
      controllers.set(i, c);
    }
    return c.signal;
  }

  #launch(i: number): void {
    this.#remaining[i] = -1;
    this.#running++;
    this.#plan.onStopping?.(i);
    // The stop itself is called a microtask later, as it always was (after its `stopping` event
    // and those of the nodes launched with it); one microtask serves the whole batch.
    this.#batch.push(i);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#runBatch);
    }
  }

  readonly #runBatch = (): void => {
    this.#scheduled = false;
    const batch = this.#batch;
    this.#batch = [];
    const plan = this.#plan;
    let now = -1;
    // Stops that finish synchronously are settled after the whole batch was called, in order.
    let doneNow: number[] | undefined;
    let failedNow: Map<number, Error> | undefined;
    for (const i of batch) {
      const brutal = plan.brutal?.(i) === true;
      if (brutal) (this.#timedOut ??= new Map()).set(i, new BrutalKillError(plan.describe(i)));
      let result: unknown;
      try {
        result = plan.stop(i, this);
      } catch (cause) {
        (failedNow ??= new Map()).set(i, new StopError(plan.describe(i), cause));
        (doneNow ??= []).push(i);
        continue;
      }
      if (brutal || result === null || (typeof result !== 'object' && typeof result !== 'function')) {
        // Not waited for: whatever it still does is its own business, and a late rejection is dropped.
        if (brutal && result instanceof Promise) result.catch(() => {});
        (doneNow ??= []).push(i);
        continue;
      }
      if (now < 0) now = performance.now();
      this.#watch(i, now);
      // Anything object-like is awaited as the old `.then(() => stop())` chain did: a thenable is
      // adopted, a plain object resolves as itself.
      const promise = result instanceof Promise ? result : Promise.resolve(result);
      promise.then(
        () => this.#settle(i, undefined),
        (cause: unknown) => this.#settle(i, new StopError(plan.describe(i), cause)),
      );
    }
    if (doneNow) for (const i of doneNow) this.#finish(i, failedNow?.get(i));
  };

  /** Puts node i under its deadline: the queue for its timeout, whose one timer is armed if idle. */
  #watch(i: number, now: number): void {
    const ms = this.#plan.timeoutMs(i);
    if (ms === Infinity) {
      this.#queueOf[i] = -1; // no deadline: settled only by its stop
      return;
    }
    let q = this.#lastQueue;
    if (q?.ms !== ms) {
      q = this.#queues.find((x) => x.ms === ms);
      if (!q) this.#queues.push((q = new DeadlineQueue(ms, this.#queues.length)));
      this.#lastQueue = q;
    }
    if (q.running === 0) {
      // Everything this queue held has ended: start it afresh.
      q.nodes.length = 0;
      q.head = 0;
    }
    this.#deadline[i] = now + ms;
    this.#queueOf[i] = q.index;
    q.nodes.push(i);
    q.running++;
    if (!q.timer) this.#arm(q, ms);
  }

  #arm(q: DeadlineQueue, delay: number): void {
    q.timer = setTimeout(() => this.#expire(q), delay);
  }

  /** The queue's timer fired: time out every stop whose deadline passed, then re-arm for the next. */
  #expire(q: DeadlineQueue): void {
    q.timer = undefined;
    const now = performance.now();
    while (q.head < q.nodes.length) {
      const i = q.nodes[q.head]!;
      if (this.#settled[i] === 0) {
        if (this.#deadline[i]! - now > TIMER_SLACK_MS) break;
        const error = new StopTimeoutError(this.#plan.describe(i), q.ms);
        (this.#timedOut ??= new Map()).set(i, error);
        this.#controllers?.get(i)?.abort(error);
        this.#settle(i, error);
      }
      q.head++;
    }
    if (q.running > 0 && q.head < q.nodes.length) this.#arm(q, Math.max(1, this.#deadline[q.nodes[q.head]!]! - now));
  }

  /** A watched stop ended (or timed out); a later end of the same stop is ignored. */
  #settle(i: number, error: Error | undefined): void {
    if (this.#settled[i] === 1) return;
    const q = this.#queueOf[i]! < 0 ? undefined : this.#queues[this.#queueOf[i]!]!;
    if (q && --q.running === 0 && q.timer) {
      // Nothing left under this deadline: no timer may keep the process alive for it.
      clearTimeout(q.timer);
      q.timer = undefined;
    }
    this.#finish(i, error);
  }

  #finish(i: number, error: Error | undefined): void {
    this.#settled[i] = 1;
    if (error) this.#errors.push(error);
    this.#plan.onStopped?.(i, error);
    this.#running--;
    this.#left--;
    const { depStart, depList } = this.#plan;
    for (let e = depStart[i]!; e < depStart[i + 1]!; e++) {
      const d = depList[e]!;
      if (--this.#remaining[d]! === 0) this.#launch(d);
    }
    if (this.#left === 0) this.#resolve(this.#errors);
    else if (this.#running === 0) this.#breakCycle();
  }

  /** Only reachable if the caller passed a cycle: stop the rest anyway, in reverse of the given order. */
  #breakCycle(): void {
    for (let i = this.#plan.size - 1; i >= 0; i--) if (this.#remaining[i]! >= 0) return this.#launch(i);
  }
}

// One of each, made as real ones are, keeps their layouts across GCs (see util/shapes.ts).
anchorShapes(
  new DeadlineQueue(5000, 0),
  new Teardown({ size: 0, depStart: new Int32Array(1), depList: [], stop: () => undefined, timeoutMs: () => 0, describe: () => '' }, () => {}),
);
