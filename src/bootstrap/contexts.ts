/**
 * Contexts: the `ctx` a component's start and stop receive. Members a component rarely uses are
 * made on first use.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { StopSignals } from '../container/index.js';
import type { Attempt } from './attempt.js';
import type { ComponentContext, Handle, LateHandle, Logger, StopContext } from './definition.js';
import { ABSENT, LateRef, type Slot } from './slot.js';

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});

/**
 * `ctx` for one start attempt. Members a component rarely uses (deps, signal, handles, log) are
 * made on first use; `deps` from the instances as they were when the attempt began.
 */
export class StartContext implements ComponentContext {
  readonly name: string;
  readonly config: unknown;
  #deps: Record<string, unknown> | undefined;
  #snapshot: unknown[] | undefined;
  #handles: Record<string, Handle<unknown>> | undefined;
  #late: Record<string, LateHandle<unknown>> | undefined;
  #log: Logger | undefined;
  constructor(
    snapshot: unknown[] | undefined,
    readonly attemptState: Attempt,
    readonly kernel: KernelInternals,
    readonly generation: number,
    config: unknown,
  ) {
    this.#snapshot = snapshot;
    this.name = attemptState.slot.name;
    this.config = config;
  }
  get deps(): Record<string, unknown> {
    if (!this.#deps) {
      const values = this.#snapshot;
      if (!values) {
        this.#deps = EMPTY;
      } else {
        // A plain object, as components keep it and read it on every call (a null-prototype
        // object would be cheaper to build but slower to read).
        const deps: Record<string, unknown> = {};
        const { needSlots, wantSlots } = this.attemptState.slot;
        for (let i = 0; i < needSlots.length; i++) deps[needSlots[i]!.name] = values[i];
        for (let i = 0; i < wantSlots.length; i++) {
          const v = values[needSlots.length + i];
          if (v !== ABSENT) deps[wantSlots[i]!.name] = v;
        }
        this.#deps = deps;
        this.#snapshot = undefined;
      }
    }
    return this.#deps;
  }
  get signal(): AbortSignal {
    return this.attemptState.signal;
  }
  get baseDir(): string {
    return this.kernel.baseDir;
  }
  get deadline(): number {
    return this.attemptState.deadline;
  }
  get attempt(): number {
    return this.attemptState.n;
  }
  remainingMs(): number {
    return Math.max(0, this.attemptState.deadline - performance.now());
  }
  get handles(): Record<string, Handle<unknown>> {
    if (!this.#handles) {
      const slot = this.attemptState.slot;
      this.#handles = {};
      for (const d of [...slot.needSlots, ...slot.wantSlots]) this.#handles[d.name] = d.handle;
    }
    return this.#handles;
  }
  get late(): Record<string, LateHandle<unknown>> {
    if (!this.#late) {
      const slot = this.attemptState.slot;
      this.#late = {};
      for (const t of slot.spec.late) this.#late[t] = new LateRef(this.kernel.slot(t), slot.name);
    }
    return this.#late;
  }
  get log(): Logger {
    return (this.#log ??= this.kernel.logger(this.name));
  }
  fail(error: unknown): void {
    this.kernel.reportFailure(this.attemptState.slot, this.generation, error);
  }
  exit(reason = 'normal'): void {
    this.kernel.reportExit(this.attemptState.slot, this.generation, reason);
  }
  part(name: string): () => void {
    const slot = this.attemptState.slot;
    const entry = { name, startMs: this.kernel.now(), readyMs: null as number | null };
    (slot.parts ??= []).push(entry);
    return () => {
      entry.readyMs ??= this.kernel.now();
    };
  }
}

/** `ctx` for one stop. Its signal and logger are made only if the stop uses them (most never do). */
export class KernelStopContext implements StopContext {
  readonly name: string;
  readonly reason: StopContext['reason'];
  readonly #signals: StopSignals;
  readonly #node: number;
  readonly #kernel: KernelInternals;
  #log: Logger | undefined;
  constructor(name: string, reason: StopContext['reason'], signals: StopSignals, node: number, kernel: KernelInternals) {
    this.name = name;
    this.reason = reason;
    this.#signals = signals;
    this.#node = node;
    this.#kernel = kernel;
  }
  get signal(): AbortSignal {
    return this.#signals.signal(this.#node);
  }
  get log(): Logger {
    return (this.#log ??= this.#kernel.logger(this.name));
  }
}

/** What contexts need from the kernel (kept narrow so they hold no reference to its private state). */
export interface KernelInternals {
  readonly baseDir: string;
  now(): number;
  slot(name: string): Slot;
  logger(component: string): Logger;
  reportFailure(slot: Slot, generation: number, error: unknown): void;
  reportExit(slot: Slot, generation: number, reason: string): void;
}
