/**
 * Attempts and their deadlines: one unit of abortable work (an Operation: a boot, a restart, a
 * swap) and one start attempt inside it (an Attempt), which settles exactly once with its outcome.
 */
import { StartTimeoutError } from './errors.js';
import type { HealthStatus } from './definition.js';
import type { Slot } from './slot.js';
import type { StageRun } from './stage-run.js';

export type FailPhase = 'start' | 'health' | 'timeout' | 'aborted';
export type Outcome =
  | { ok: true; instance: unknown; status: HealthStatus; detail: unknown; generation: number }
  | { ok: false; error: Error; phase: FailPhase };
export type Started = Extract<Outcome, { ok: true }>;

/**
 * One unit of abortable work (a boot, a restart, a swap): the attempts under way, so abandoning
 * it aborts exactly those, without a listener per component on a shared signal.
 */
export class Operation {
  /** Attempts with their own deadline timer (retries, restarts, swaps). */
  readonly attempts = new Set<Attempt>();
  /** During a boot, the first attempts of the stage under way, in start order. */
  stage: Attempt[] | undefined;
  reason: Error | undefined;
  #wake = new Set<() => void>();
  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    // A stage's first attempts began before any retry: expiring them first keeps start order.
    if (this.stage) for (const a of this.stage) a.expire(reason, 'aborted');
    for (const a of this.attempts) a.expire(reason, 'aborted');
    for (const w of this.#wake) w();
  }
  /** A backoff pause that ends early when the operation is abandoned. */
  pause(ms: number): Promise<void> {
    if (this.reason) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake.add(done);
    });
  }
}

/**
 * One start attempt. Its AbortSignal is made only if the component asks for it (most never do),
 * and its deadline timer may be shared by every first attempt of a stage. It settles once, with
 * its outcome: a boot's first attempt tells its stage (see stage-run.ts), any other attempt
 * resolves the promise its caller awaits.
 */
export class Attempt {
  done = false;
  /** This attempt's instance's generation (unique per slot): a `ctx.fail()` counts only from the instance being served. */
  generation = 0;
  phase: 'start' | 'health' = 'start';
  reason: Error | undefined;
  outcome: Outcome | undefined;
  /** Outside a boot's stages: resolves the promise of the outcome. */
  resolve: ((outcome: Outcome) => void) | undefined;
  /** During a boot: the stage this is the first attempt of. */
  stage: StageRun | undefined;
  /** Its own deadline timer, and the operation that tracks it, when it has them. */
  timer: NodeJS.Timeout | undefined;
  tracker: Operation | undefined;
  #controller: AbortController | undefined;
  constructor(
    readonly slot: Slot,
    readonly n: number,
    readonly deadline: number,
    readonly op: Operation,
  ) {}
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.reason) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }
  settle(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    this.outcome = outcome;
    this.tracker?.attempts.delete(this);
    if (this.timer) clearTimeout(this.timer);
    if (this.stage) this.stage.deliver(this);
    else this.resolve?.(outcome);
  }
  expire(reason: Error, phase: FailPhase): void {
    if (this.done) return;
    this.reason = reason;
    this.#controller?.abort(reason);
    this.settle({ ok: false, error: reason, phase });
  }
  timeout(): void {
    if (this.done) return;
    const s = this.slot;
    this.expire(new StartTimeoutError(s.name, s.spec.timeoutMs, this.phase), 'timeout');
  }
}
