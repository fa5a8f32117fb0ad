/**
 * Slots and handles: a component's place in the kernel (its spec, state, instance and timings),
 * and the stable references to it that follow swaps and restarts.
 */
import { quiet } from '../util/errors.js';
import type { FailPhase } from './attempt.js';
import type { AnyComponentDefinition, ComponentState, Handle, HealthStatus, LateHandle } from './definition.js';
import { KernelError, LateBindingError } from './errors.js';
import type { ComponentSpec } from './spec.js';

const NO_SLOTS: readonly Slot[] = Object.freeze([]);
const NO_RESTARTS: readonly number[] = Object.freeze([]);
/** In a deps snapshot: a wanted component that was not running, so `ctx.deps` leaves it out. */
export const ABSENT: unique symbol = Symbol('absent');

/** A component's place in the kernel: its spec, its state, its current instance and its timings. */
export class Slot {
  state: ComponentState = 'pending';
  /** Named parts of its start (ctx.part), for the report. */
  parts: { name: string; startMs: number; readyMs: number | null }[] | undefined;
  definition: AnyComponentDefinition | undefined;
  instance: unknown = undefined;
  /** True from a successful start until its stop: there is an instance to stop. */
  hasInstance = false;
  failPhase: FailPhase | undefined;
  /** Which start produced `instance`, so a stale `ctx.fail()` from an old instance is ignored. */
  generation = 0;
  /** The last generation handed to an attempt (every attempt gets a new one). */
  serial = 0;
  /** A `ctx.fail()` heard while the boot was still under way: acted on when it is over. */
  pendingFailure: { generation: number; error: Error; exit?: string } | undefined = undefined;
  attempts = 0;
  queuedAt: number | null = null;
  startAt: number | null = null;
  readyAt: number | null = null;
  firstReadyAt: number | null = null;
  error: Error | null = null;
  /** For a component skipped because a need failed: the component at the root of it. */
  cause: string | undefined;
  /** The last health verdict (undefined before the first start); the report shows it as `{ status, detail }`. */
  healthStatus: HealthStatus | undefined;
  healthDetail: unknown;
  selected = true;
  /** It ended normally (ctx.exit()) and its restart type leaves it down: the system is not degraded by it. */
  exited = false;
  stageIndex = 0;
  needSlots: readonly Slot[] = NO_SLOTS;
  wantSlots: readonly Slot[] = NO_SLOTS;
  liveTimer: NodeJS.Timeout | undefined;
  liveFailures = 0;
  /** When the supervisor restarted it, within the restart window (shared empty list until the first restart). */
  restarts: readonly number[] = NO_RESTARTS;
  #handle: StableHandle | undefined;
  #ready: { promise: Promise<unknown>; resolve(v: unknown): void; reject(e: unknown): void } | undefined;

  constructor(
    /** Declaration index: the slot's place in the kernel's list of all slots. */
    readonly index: number,
    readonly name: string,
    readonly spec: ComponentSpec,
  ) {}

  get running(): boolean {
    return this.state === 'ready' || this.state === 'degraded';
  }
  /** It makes the system degraded: selected and not ready (one that ended normally, as a transient or temporary one may, does not count). */
  get degradesSystem(): boolean {
    return this.selected && this.state !== 'ready' && !this.exited;
  }
  get handle(): StableHandle {
    return (this.#handle ??= new StableHandle(this));
  }
  /** Resolves when the component is first ready; rejects when it fails or is left out. */
  get readyPromise(): Promise<unknown> {
    if (!this.#ready) {
      let resolve!: (v: unknown) => void;
      let reject!: (e: unknown) => void;
      const promise = quiet(new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej))));
      this.#ready = { promise, resolve, reject };
      if (this.firstReadyAt !== null) resolve(this.instance);
      else if (this.state === 'failed' || this.state === 'skipped') reject(this.error ?? new KernelError(`'${this.name}' did not start`));
    }
    return this.#ready.promise;
  }
  markReady(): void {
    if (this.firstReadyAt === null) this.firstReadyAt = this.readyAt;
    this.#ready?.resolve(this.instance);
  }
  markNeverReady(error: Error): void {
    if (this.firstReadyAt === null) this.#ready?.reject(error);
  }
  /**
   * What `ctx.deps` holds for a start beginning now: the instances of its needs, then of its wants
   * (ABSENT for a want that is not running). Undefined when it has neither.
   */
  depsSnapshot(): unknown[] | undefined {
    const needs = this.needSlots;
    const wants = this.wantSlots;
    if (needs.length === 0 && wants.length === 0) return undefined;
    const values: unknown[] = new Array(needs.length + wants.length);
    // Indexed loops here and below: these lists are often the shared frozen empty list, which
    // for...of walks through the generic (allocating) iterator path.
    for (let i = 0; i < needs.length; i++) values[i] = needs[i]!.instance;
    for (let i = 0; i < wants.length; i++) values[needs.length + i] = wants[i]!.running ? wants[i]!.instance : ABSENT;
    return values;
  }
}

export class StableHandle implements Handle<unknown> {
  constructor(readonly slot: Slot) {}
  get name(): string {
    return this.slot.name;
  }
  get ready(): boolean {
    return this.slot.running;
  }
  get current(): unknown {
    const s = this.slot;
    if (s.running) return s.instance;
    throw new KernelError(`'${s.name}' is not running (state: ${s.state})`);
  }
}

export class LateRef implements LateHandle<unknown> {
  constructor(
    readonly target: Slot,
    readonly user: string,
  ) {}
  get name(): string {
    return this.target.name;
  }
  get bound(): boolean {
    return this.target.running;
  }
  get ready(): Promise<unknown> {
    return this.target.readyPromise;
  }
  get(): unknown {
    const t = this.target;
    if (t.running) return t.instance;
    throw new LateBindingError(t.name, t.stageIndex, this.user, t.state);
  }
}
