/**
 * One stage of a boot under way: its first attempts, one deadline timer per distinct timeout, and
 * the two microtask steps that act on their outcomes (see Delivery).
 */
import { Attempt, type Operation } from './attempt.js';
import { microtask } from '../util/microtask.js';
import type { Slot } from './slot.js';

/** The kernel's two steps for a boot's first attempts (see Delivery). */
export interface BootSteps {
  /** One microtask after the attempt settled: starts the retries, or returns true when the outcome is final. */
  settled(a: Attempt): boolean;
  /** One microtask later, for a final outcome: the component's new state. */
  done(a: Attempt): void;
}

/**
 * The outcomes of a boot's first attempts are acted on in two steps, one microtask after the
 * other, as the promise chain they replace did: one microtask after an attempt settles, whether it
 * is retried; one more, the component's new state. The timing decides which starts have settled
 * when a failure abandons the boot (a sibling that settled is ready, then rolled back; one still
 * under way is abandoned), so it is kept exactly. Each step is one microtask for every attempt that
 * settled before it ran, where the chain cost three promises per attempt.
 *
 * One per kernel: two kernels in a process never share a batch.
 */
export class Delivery {
  #settled: Attempt[] = [];
  #scheduled = false;
  constructor(readonly steps: BootSteps) {}
  deliver(a: Attempt): void {
    this.#settled.push(a);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#decideRetries);
    }
  }
  readonly #decideRetries = (): void => {
    this.#scheduled = false;
    const batch = this.#settled;
    this.#settled = [];
    const done: Attempt[] = [];
    const steps = this.steps;
    for (const a of batch) if (guard(a, steps.settled)) done.push(a);
    if (done.length) microtask(() => { for (const a of done) guard(a, steps.done); });
  };
}

/** Runs a kernel step for one attempt; a throw is a kernel bug, reported without holding up the other attempts. */
function guard(a: Attempt, step: (a: Attempt) => boolean | void): boolean {
  try {
    return step(a) === true;
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
    return false;
  }
}

/**
 * The first attempts of the stage of a boot under way: one deadline timer per distinct timeout,
 * and a count of the components still to settle. One serves every stage of a boot, one after the
 * other (`begin`): its lists, grown in the first stage, are reused rather than made anew, which in
 * a cold process would throw away the compiled code that appends to them at every stage.
 */
export class StageRun {
  readonly attempts: Attempt[] = [];
  readonly #groups = new Map<number, Attempt[]>();
  readonly #timers: NodeJS.Timeout[] = [];
  /** The last timeout asked for and its group: most components of a stage share one. */
  #lastMs = Number.NaN;
  #lastGroup: Attempt[] = [];
  #left = 0;
  /** When the stage began: its first attempts' deadlines count from it. */
  at = 0;
  #resolve: () => void = () => {};
  constructor(
    readonly op: Operation,
    readonly delivery: Delivery,
  ) {}
  /** Begins a stage of `count` components; `resolve` is called a microtask after the last settles. */
  begin(at: number, count: number, resolve: () => void): void {
    this.at = at;
    this.#left = count;
    this.#resolve = resolve;
    this.attempts.length = 0;
    this.#timers.length = 0;
    this.#groups.clear();
    this.#lastMs = Number.NaN;
    this.op.stage = this.attempts;
  }
  firstAttempt(slot: Slot): Attempt {
    const ms = slot.spec.timeoutMs;
    const group = ms === this.#lastMs ? this.#lastGroup : this.#group(ms);
    const a = new Attempt(slot, 1, this.at + ms, this.op);
    a.stage = this;
    group.push(a);
    this.attempts.push(a);
    return a;
  }
  #group(ms: number): Attempt[] {
    let group = this.#groups.get(ms);
    if (!group) {
      const g: Attempt[] = (group = []);
      this.#groups.set(ms, g);
      this.#timers.push(setTimeout(() => { for (const a of g) a.timeout(); }, ms));
    }
    this.#lastMs = ms;
    this.#lastGroup = group;
    return group;
  }
  deliver(a: Attempt): void {
    this.delivery.deliver(a);
  }
  /** One component of the stage is done (ready, failed, skipped or abandoned). */
  settled(): void {
    if (--this.#left !== 0) return;
    for (const t of this.#timers) clearTimeout(t);
    if (this.op.stage === this.attempts) this.op.stage = undefined;
    // The stage ends a microtask after its last component, as it did when each was a promise.
    microtask(this.#resolve);
  }
}
