import type { ComponentState } from './definition.js';

export interface EventError {
  name: string;
  message: string;
}

/** One lifecycle transition of one component. */
export interface ComponentEvent {
  type: 'component';
  component: string;
  stage: number;
  state: ComponentState;
  attempt: number;
  /** Milliseconds since the kernel was created. */
  elapsedMs: number;
  /** Why, in words: "retry 2 in 61ms", "restart (rest_for_one after 'db')", "swap", … */
  reason?: string;
  error?: EventError;
}

export interface StageEvent {
  type: 'stage';
  stage: number;
  state: 'starting' | 'ready' | 'failed';
  components: readonly string[];
  elapsedMs: number;
}

export interface SystemEvent {
  type: 'system';
  state: 'booting' | 'ready' | 'degraded' | 'failed' | 'stopping' | 'stopped';
  elapsedMs: number;
  reason?: string;
  error?: EventError;
}

/** What a component wrote through `ctx.log`, and the kernel's own notes (component `kernel`). */
export interface LogEvent {
  type: 'log';
  component: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
  elapsedMs: number;
}

export type KernelEvent = ComponentEvent | StageEvent | SystemEvent | LogEvent;
export type KernelEventType = KernelEvent['type'];
type Listener = (event: KernelEvent) => void;

/**
 * Synchronous fan-out of kernel events. A throwing listener is isolated (reported once on stderr),
 * so observability can never break a boot. Emitting with no listener costs one length check.
 */
export class EventStream {
  readonly #all: Listener[] = [];
  readonly #byType = new Map<string, Listener[]>();
  #count = 0;
  /** A throwing listener is reported once per stream, not once per event. */
  #warned = false;

  get active(): boolean {
    return this.#count > 0;
  }

  on(type: KernelEventType | 'event', fn: Listener): () => void {
    const list = type === 'event' ? this.#all : (this.#byType.get(type) ?? this.#byType.set(type, []).get(type)!);
    list.push(fn);
    this.#count++;
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) {
        list.splice(i, 1);
        this.#count--;
      }
    };
  }

  emit(event: KernelEvent): void {
    if (this.#count === 0) return;
    for (const fn of this.#all) this.#call(fn, event);
    const typed = this.#byType.get(event.type);
    if (typed) for (const fn of typed) this.#call(fn, event);
  }

  #call(fn: Listener, event: KernelEvent): void {
    try {
      fn(event);
    } catch (err) {
      if (!this.#warned) {
        this.#warned = true;
        process.stderr.write(`symphony: an event listener threw (ignored): ${err instanceof Error ? err.stack : String(err)}\n`);
      }
    }
  }

  /** The events from now on as an async iterable; it ends when `signal` aborts or the loop breaks. */
  async *iterate(signal?: AbortSignal): AsyncGenerator<KernelEvent> {
    const buffer: KernelEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.on('event', (e) => {
      buffer.push(e);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      // Events emitted before the abort are still delivered; then the stream ends.
      for (;;) {
        if (buffer.length) {
          yield buffer.shift()!;
          continue;
        }
        if (signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
