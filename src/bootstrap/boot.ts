/**
 * The boot: loads every definition, starts the stages one after the other (each stage's
 * components concurrently, gated on readiness), and rolls back what started when a required
 * component fails or the boot is abandoned.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { describeError, toError } from '../util/errors.js';
import { Operation, type Attempt, type Outcome } from './attempt.js';
import type { KernelCore } from './core.js';
import type { AnyComponentDefinition } from './definition.js';
import { isComponentDefinition } from './definition.js';
import { BootAbandonedError, BootError, DependencyFailedError, KernelError } from './errors.js';
import { watch } from './health.js';
import { buildReport } from './report-build.js';
import type { BootFailure, BootReport } from './report.js';
import type { Slot } from './slot.js';
import { Delivery, StageRun, type BootSteps } from './stage-run.js';
import { beginAttempt, runAttempt, startWithRetries } from './start.js';
import { teardown } from './teardown.js';

type AbortedBy = 'signal' | 'aborted' | undefined;

/** One boot of one kernel: its operation, what aborted it, and its stages' delivery of outcomes. */
export class Boot {
  readonly op = new Operation();
  abortedBy: AbortedBy;
  readonly delivery: Delivery;
  /** The stage under way (one serves every stage in turn). */
  readonly stage: StageRun;
  constructor(readonly k: KernelCore) {
    this.delivery = new Delivery(bootSteps(this));
    this.stage = new StageRun(this.op, this.delivery);
  }

  async run(signal: AbortSignal | undefined): Promise<BootReport> {
    const k = this.k;
    const op = (k.boot = this.op);
    // An abort reason carrying a `signal` name (the CLI passes { signal: 'SIGINT' }) reports phase "signal".
    const onAbort = () => {
      const by = (signal?.reason as { signal?: unknown } | undefined)?.signal;
      this.abortedBy = typeof by === 'string' ? 'signal' : 'aborted';
      op.abort(new BootAbandonedError(`boot interrupted${typeof by === 'string' ? ` by ${by}` : ''}`));
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    k.emitSystem('booting');
    let failure: BootFailure | null;
    try {
      failure = await this.#load();
      failure ??= await this.#stages();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (failure) return this.#fail(failure);
    return this.#succeed();
  }

  /** Modules load first, all at once, and are reported as loadMs: a component's start time is its own. */
  async #load(): Promise<BootFailure | null> {
    const k = this.k;
    const loadStart = k.now();
    let failure = await loadAll(k);
    k.loadMs = k.now() - loadStart;
    const bootStart = (k.bootStart = k.now());
    for (const slot of k.order) {
      if (!slot.selected) slot.state = 'skipped';
      else slot.queuedAt ??= bootStart;
    }
    if (!failure && this.op.reason) failure = this.#interrupted(k.order);
    return failure;
  }

  async #stages(): Promise<BootFailure | null> {
    const k = this.k;
    for (let i = 0; i < k.stages.length; i++) {
      const stage = k.stages[i]!;
      const members = k.options.until === undefined ? stage : stage.filter((s) => s.selected);
      if (!members.length) continue;
      if (this.op.reason) return this.#interrupted(members);
      k.emitStage(i, 'starting', members);
      await this.#runStage(members);
      const failure = this.#stageFailure(members);
      k.emitStage(i, failure ? 'failed' : 'ready', members);
      if (failure) return failure;
    }
    return null;
  }

  async #fail(failure: BootFailure): Promise<never> {
    const k = this.k;
    const op = this.op;
    if (!op.reason) op.abort(new BootAbandonedError(`boot abandoned: '${failure.component}' failed`));
    for (const slot of k.order) if (slot.state === 'pending' && slot.selected) slot.markNeverReady(op.reason!);
    await teardown(k, k.order.filter((s) => s.hasInstance), 'rollback');
    k.system = 'failed';
    k.report = buildReport(k, failure);
    k.phase = 'stopped';
    k.emitSystem('failed', failure.message);
    k.finish({ code: 1, reason: failure.message });
    throw new BootError(`boot failed: ${failure.message}`, k.report);
  }

  #succeed(): BootReport {
    const k = this.k;
    const order = k.order;
    // One pass over every component before the report (which makes one more), and after it only
    // over the few with a liveness probe or a failure heard during the boot: in a cold process a
    // pass over every component runs unoptimized, and costs more than the work in it.
    const watched: Slot[] = [];
    let pendings = false;
    for (let i = 0; i < order.length; i++) {
      const slot = order[i]!;
      if (slot.state === 'skipped' || slot.state === 'pending') slot.markNeverReady(new KernelError(`'${slot.name}' is not part of this boot`));
      else if (slot.running && slot.definition?.health) watched.push(slot); // watch() starts only those
      if (slot.pendingFailure) pendings = true;
    }
    const report = (k.report = buildReport(k, null));
    k.system = report.system as 'ready' | 'degraded';
    k.phase = 'running';
    k.emitSystem(k.system);
    for (let i = 0; i < watched.length; i++) watch(k, watched[i]!);
    if (pendings) {
      for (const slot of order) {
        const pending = slot.pendingFailure;
        slot.pendingFailure = undefined;
        if (pending?.exit !== undefined) k.reportExit(slot, pending.generation, pending.exit);
        else if (pending) k.reportFailure(slot, pending.generation, pending.error);
      }
    }
    return report;
  }

  /** Starts a stage's components concurrently; first attempts share one deadline timer per timeout. */
  #runStage(members: Slot[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const stage = this.stage;
      stage.begin(performance.now(), members.length, resolve);
      for (let i = 0; i < members.length; i++) {
        const slot = members[i]!;
        try {
          bootSlot(this.k, slot, stage);
        } catch (err) {
          // bootSlot never throws by design; if it does, it is a kernel bug: fail the component loudly.
          kernelBug(slot, stage, err);
        }
      }
    });
  }

  #stageFailure(members: Slot[]): BootFailure | null {
    for (const s of members) {
      if (s.state === 'failed' && !s.spec.optional) {
        const phase = s.failPhase ?? 'start';
        return { component: s.name, phase: phase === 'aborted' ? 'aborted' : phase, message: describeError(s.error) };
      }
    }
    for (const s of members) {
      if (s.state === 'skipped' && !s.spec.optional) {
        return { component: s.cause ?? s.name, phase: 'dependency', message: describeError(s.error) };
      }
    }
    if (this.op.reason) return this.#interrupted(members);
    return null;
  }

  #interrupted(members: Slot[]): BootFailure {
    const at = members.find((s) => s.state === 'stopped' || s.state === 'starting') ?? members[0]!;
    return { component: at.name, phase: this.abortedBy ?? 'aborted', message: describeError(this.op.reason) };
  }
}

function kernelBug(slot: Slot, stage: StageRun, err: unknown): void {
  slot.error = toError(err, 'kernel');
  slot.state = 'failed';
  stage.settled();
}

/** Resolves one component's definition: a command peer, a module path through the loader, then the execution mode's adapter. */
async function load(k: KernelCore, slot: Slot): Promise<AnyComponentDefinition> {
  const spec = slot.spec;
  const adapters = k.options.modes ?? {};
  if (spec.command) {
    if (!adapters.command) throw new KernelError(`'${slot.name}' is a command: peer, but no bus is configured to run it`);
    return adapters.command(slot.name, spec.options, undefined);
  }
  let def: AnyComponentDefinition;
  if (typeof spec.use === 'string') {
    const loader = k.options.loader;
    if (!loader) throw new KernelError(`'${slot.name}' uses '${spec.use}', but the kernel has no loader for module paths`);
    def = await loader(spec.use, slot.name);
    if (!isComponentDefinition(def)) throw new TypeError(`'${spec.use}' (used by '${slot.name}') does not export a component: its default export needs a start() function`);
  } else {
    def = spec.use!;
  }
  if (spec.mode !== 'in-process') {
    const adapter = adapters[spec.mode];
    if (!adapter) throw new KernelError(`'${slot.name}' asks for mode '${spec.mode}', which needs the bus (builtin:bus) to run it`);
    return adapter(slot.name, spec.options, def);
  }
  return def;
}

/** Resolves every selected component's definition concurrently; a required one that fails to load fails the boot before anything starts. */
async function loadAll(k: KernelCore): Promise<BootFailure | null> {
  const pending = k.order.filter((s) => s.selected && !s.definition);
  if (!pending.length) return null;
  const results = await Promise.allSettled(pending.map((s) => load(k, s)));
  let failure: BootFailure | null = null;
  results.forEach((r, i) => {
    const slot = pending[i]!;
    if (r.status === 'fulfilled') {
      slot.definition = r.value;
      return;
    }
    slot.queuedAt = slot.startAt = k.now();
    slot.attempts = 0;
    k.markFailed(slot, toError(r.reason, `loading '${slot.name}'`));
    if (!slot.spec.optional && !failure) failure = { component: slot.name, phase: 'start', message: describeError(slot.error) };
  });
  return failure;
}

/**
 * Starts one component of a boot stage: its first attempt, then (rarely) the retries. Tells the
 * stage when the component is done with. Without retries, no promise of the kernel's own is made.
 */
function bootSlot(k: KernelCore, slot: Slot, stage: StageRun): void {
  if (slot.state === 'failed') return stage.settled(); // its module did not load (optional, or the boot would have stopped)
  const needs = slot.needSlots;
  for (let i = 0; i < needs.length; i++) {
    const need = needs[i]!;
    if (!need.running) {
      slot.cause = need.cause ?? need.name;
      slot.error = new DependencyFailedError(slot.name, need.name);
      slot.state = 'skipped';
      slot.markNeverReady(slot.error);
      k.emitComponent(slot, 'skipped', { error: slot.error });
      return stage.settled();
    }
  }
  slot.startAt = k.now();
  const a = stage.firstAttempt(slot);
  beginAttempt(k, slot, 1, undefined, false);
  runAttempt(k, slot, slot.definition!, a, stage.op, false, slot.spec.config);
}

/** What the stages call back with their first attempts' outcomes (see Delivery). */
function bootSteps(boot: Boot): BootSteps {
  const k = boot.k;
  return {
    settled: (a: Attempt) => {
      const { slot, stage, outcome } = a;
      try {
        if (outcome!.ok || slot.spec.retries === 0 || a.op.reason) return true;
        startWithRetries(k, slot, slot.definition!, a.op, { after: outcome }).then(
          (o) => bootOutcome(k, slot, stage!, o),
          (err: unknown) => kernelBug(slot, stage!, err),
        );
      } catch (err) {
        kernelBug(slot, stage!, err);
      }
      return false;
    },
    done: (a: Attempt) => {
      try {
        bootOutcome(k, a.slot, a.stage!, a.outcome!);
      } catch (err) {
        kernelBug(a.slot, a.stage!, err);
      }
    },
  };
}

function bootOutcome(k: KernelCore, slot: Slot, stage: StageRun, outcome: Outcome): void {
  if (outcome.ok) {
    k.becomeRunning(slot, outcome);
  } else if (outcome.phase === 'aborted') {
    slot.readyAt = k.now();
    slot.error = outcome.error;
    slot.state = 'stopped';
    slot.markNeverReady(outcome.error);
    k.emitComponent(slot, 'stopped', { error: outcome.error, reason: 'boot abandoned' });
  } else {
    k.markFailed(slot, outcome.error, outcome.phase);
    if (!slot.spec.optional) stage.op.abort(new BootAbandonedError(`boot abandoned: '${slot.name}' failed`));
  }
  stage.settled();
}
