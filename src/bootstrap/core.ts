/**
 * The kernel's state, shared by its parts (boot, supervisor, swap, teardown, report): the slots
 * in declaration, start and stage order, the phase, and the event helpers. Each Kernel has its
 * own; nothing here is shared between kernels.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { Operation } from './attempt.js';
import type { Started } from './attempt.js';
import type { FailPhase } from './attempt.js';
import { isComponentDefinition, type ComponentState, type KernelOptions, type Logger } from './definition.js';
import { GraphError, KernelError } from './errors.js';
import { EventStream, type EventError, type SystemEvent } from './events.js';
import { needsClosure, planGraph, type BootPlan, type IndexedPlan } from './graph.js';
import type { BootReport } from './report.js';
import { Slot } from './slot.js';
import { normalizeSpec, type ComponentSpec } from './spec.js';
import type { KernelInternals } from './contexts.js';

export type Phase = 'idle' | 'booting' | 'running' | 'stopping' | 'stopped';

/** How the kernel ended: 0 after a clean stop, 1 after a failed boot, a failed stop, or an escalation. */
export interface KernelExit {
  code: 0 | 1;
  reason: string;
}

/** What emitComponent adds to an event when the caller adds nothing (so no object is made per call). */
const NO_EXTRA: { attempt?: number; reason?: string; error?: Error } = Object.freeze({});

export class KernelCore implements KernelInternals {
  readonly origin: number;
  readonly events = new EventStream();
  /** Every slot, in declaration order (a slot's `index`). */
  readonly slots: Slot[];
  /** Name to declaration index. */
  readonly index: ReadonlyMap<string, number>;
  /** Slots in start order, and per stage. */
  readonly order: Slot[];
  readonly stages: Slot[][];
  readonly plan: BootPlan;
  readonly options: KernelOptions;
  readonly random: () => number;
  readonly baseDir: string;
  phase: Phase = 'idle';
  // Fractional from the start (NaN until the boot sets them): whole numbers would give kernels a
  // different layout before and after their boot (see util/shapes.ts).
  bootStart = Number.NaN;
  loadMs = Number.NaN;
  boot: Operation | undefined;
  report: BootReport | undefined;
  system: 'ready' | 'degraded' | 'failed' | undefined;
  /** Supervisor actions (restarts, swaps) under way, one after the other. */
  ops: Promise<unknown> = Promise.resolve();
  stopping: Promise<void> | undefined;
  exit: KernelExit | undefined;
  readonly done: Promise<KernelExit>;
  #resolveDone!: (exit: KernelExit) => void;
  /** Set by the supervisor: what a ctx.fail() or a failed liveness probe leads to. */
  onFailure: (slot: Slot, generation: number, error: unknown) => void = () => {};
  /** Set by the supervisor: what a ctx.exit() leads to. */
  onExit: (slot: Slot, generation: number, reason: string) => void = () => {};

  constructor(options: KernelOptions) {
    this.origin = options.origin ?? performance.now();
    this.options = options;
    this.random = options.random ?? Math.random;
    this.baseDir = options.baseDir ?? process.cwd();
    this.done = new Promise((r) => (this.#resolveDone = r));
    const components = options.components ?? {};
    // Each pass over every component is a function of its own (specsOf, slotsOf, #placeAll): in a
    // cold process such a loop is compiled on its own, and a small function compiles quickly.
    const specs = specsOf(components);
    const analysis = planGraph(specs, options.stages);
    if (!analysis.plan) throw new GraphError(analysis.problems);
    this.plan = analysis.plan;
    const indexed = analysis.indexed!;
    this.index = indexed.index;
    this.slots = slotsOf(specs);
    this.order = new Array(specs.length);
    this.stages = stagesOf(indexed.stageOf, indexed.stageCount);
    this.#placeAll(indexed);
    const index = indexed.index;
    if (options.until !== undefined) {
      if (!index.has(options.until)) throw new GraphError([{ message: `--until names '${options.until}', which is not a component` }]);
      const keep = needsClosure(specs, options.until);
      for (const slot of this.order) slot.selected = keep.has(slot.name);
    }
  }

  /** Puts every slot in its place in start order and in its stage. */
  #placeAll({ order, stageOf, refs, refStart }: IndexedPlan): void {
    const fill = new Int32Array(this.stages.length);
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const stage = stageOf[i]!;
      this.stages[stage]![fill[stage]!++] = this.slots[i]!;
      this.#place(k, this.slots[i]!, stage, refs, refStart[i]!);
    }
  }

  /**
   * Puts a slot at start position `k` in stage `stage`, with its needs and wants linked to slots
   * from the plan's resolved references (`refs` from `from`: its needs, then its wants).
   */
  #place(k: number, slot: Slot, stage: number, refs: Int32Array, from: number): void {
    const spec = slot.spec;
    const slots = this.slots;
    this.order[k] = slot;
    slot.stageIndex = stage;
    const needCount = spec.needs.length;
    if (needCount) {
      const needSlots: Slot[] = new Array(needCount);
      for (let i = 0; i < needCount; i++) needSlots[i] = slots[refs[from + i]!]!;
      slot.needSlots = needSlots;
    }
    const wantCount = spec.wants.length;
    if (wantCount) {
      const wanted: Slot[] = [];
      for (let i = from + needCount; i < from + needCount + wantCount; i++) if (refs[i]! >= 0) wanted.push(slots[refs[i]!]!);
      if (wanted.length) slot.wantSlots = wanted;
    }
    const use = spec.use;
    if (typeof use === 'object' || typeof use === 'function') {
      if (!isComponentDefinition(use)) throw new TypeError(`component '${slot.name}': use is not a component definition (it needs a start() function)`);
      slot.definition = use;
    }
  }

  /** Milliseconds since the kernel was created. */
  now(): number {
    return performance.now() - this.origin;
  }

  find(name: string): Slot | undefined {
    const i = this.index.get(name);
    return i === undefined ? undefined : this.slots[i];
  }

  /** The slot named `name`; for contexts, which only ask for names the graph check has seen. */
  slot(name: string): Slot {
    return this.find(name)!;
  }

  /** The slot named `name`, or a KernelError saying there is none. */
  require(name: string): Slot {
    const s = this.find(name);
    if (!s) throw new KernelError(`no component named '${name}'`);
    return s;
  }

  reportFailure(slot: Slot, generation: number, error: unknown): void {
    this.onFailure(slot, generation, error);
  }

  reportExit(slot: Slot, generation: number, reason: string): void {
    this.onExit(slot, generation, reason);
  }

  finish(exit: KernelExit): void {
    if (this.exit) return;
    this.exit = exit;
    this.#resolveDone(exit);
  }

  // ---- state changes shared by boot, supervisor and swap ---------------------------------------

  markFailed(slot: Slot, error: Error, phase: FailPhase = 'start'): void {
    slot.readyAt = this.now();
    slot.error = error;
    slot.state = 'failed';
    slot.failPhase = phase;
    slot.markNeverReady(error);
    this.emitComponent(slot, 'failed', { error });
  }

  becomeRunning(slot: Slot, outcome: Started): void {
    slot.instance = outcome.instance;
    slot.hasInstance = true;
    slot.generation = outcome.generation;
    slot.healthStatus = outcome.status;
    slot.healthDetail = outcome.detail;
    slot.readyAt = this.now();
    slot.error = null;
    slot.liveFailures = 0;
    slot.exited = false;
    slot.state = outcome.status === 'degraded' ? 'degraded' : 'ready';
    slot.markReady();
    this.emitComponent(slot, slot.state);
  }

  /** `degraded` while a selected component is not ready (one that ended normally, as a transient or temporary one may, does not count). */
  systemState(): 'ready' | 'degraded' {
    return this.order.some((s) => s.degradesSystem) ? 'degraded' : 'ready';
  }

  updateSystem(): void {
    if (this.phase !== 'running') return;
    const next = this.systemState();
    if (next !== this.system) {
      this.system = next;
      this.emitSystem(next);
    }
  }

  /** Supervisor actions (restarts, swaps) run one at a time, so two never tear at the same components. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ops.then(fn, fn);
    this.ops = run.catch(() => {});
    return run;
  }

  // ---- events ------------------------------------------------------------------------------------

  emitComponent(slot: Slot, state: ComponentState, extra: { attempt?: number; reason?: string; error?: Error | undefined } = NO_EXTRA): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'component',
      component: slot.name,
      stage: slot.stageIndex,
      state,
      attempt: extra.attempt ?? slot.attempts,
      elapsedMs: this.now(),
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.error ? { error: eventError(extra.error) } : {}),
    });
  }

  emitStage(stage: number, state: 'starting' | 'ready' | 'failed', members: Slot[]): void {
    if (!this.events.active) return;
    this.events.emit({ type: 'stage', stage, state, components: members.map((s) => s.name), elapsedMs: this.now() });
  }

  emitSystem(state: SystemEvent['state'], reason?: string): void {
    if (!this.events.active) return;
    this.events.emit({ type: 'system', state, elapsedMs: this.now(), ...(reason ? { reason } : {}) });
  }

  log(component: string, level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
    if (!this.events.active) return;
    this.events.emit({ type: 'log', component, level, message, elapsedMs: this.now(), ...(data ? { data } : {}) });
  }

  logger(component: string): Logger {
    return {
      debug: (m, d) => this.log(component, 'debug', m, d),
      info: (m, d) => this.log(component, 'info', m, d),
      warn: (m, d) => this.log(component, 'warn', m, d),
      error: (m, d) => this.log(component, 'error', m, d),
    };
  }
}

/** Every component's spec, in declaration order. */
function specsOf(components: NonNullable<KernelOptions['components']>): ComponentSpec[] {
  const names = Object.keys(components);
  const specs: ComponentSpec[] = new Array(names.length);
  for (let i = 0; i < names.length; i++) specs[i] = normalizeSpec(names[i]!, components[names[i]!]!);
  return specs;
}

/** A slot per spec, in declaration order. */
function slotsOf(specs: readonly ComponentSpec[]): Slot[] {
  const slots: Slot[] = new Array(specs.length);
  for (let i = 0; i < specs.length; i++) slots[i] = new Slot(i, specs[i]!.name, specs[i]!);
  return slots;
}

/** Each stage's list, sized to its members (filled in start order by #placeAll). */
function stagesOf(stageOf: Int32Array, stageCount: number): Slot[][] {
  const sizes = stageSizes(stageOf, stageCount);
  const stages: Slot[][] = new Array(stageCount);
  for (let s = 0; s < stageCount; s++) stages[s] = new Array(sizes[s]!);
  return stages;
}

function stageSizes(stageOf: Int32Array, stageCount: number): Int32Array {
  const sizes = new Int32Array(stageCount);
  for (let i = 0; i < stageOf.length; i++) sizes[stageOf[i]!]!++;
  return sizes;
}

function eventError(err: Error): EventError {
  return { name: err.name, message: err.message };
}
