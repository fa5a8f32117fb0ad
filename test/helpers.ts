import type { AnyComponentDefinition, ComponentEvent, Kernel, KernelEvent } from '../src/index.js';

/** Records the order of starts and stops across components, to assert on ordering. */
export class Journal {
  readonly entries: string[] = [];
  add(entry: string): void {
    this.entries.push(entry);
  }
  /** Entries with the given prefix, without it: `of('stop')` → ['c', 'b', 'a']. */
  of(prefix: string): string[] {
    return this.entries.filter((e) => e.startsWith(`${prefix}:`)).map((e) => e.slice(prefix.length + 1));
  }
}

/** A component that records its start and stop and returns a small instance. */
export function recorded(journal: Journal, name: string, extra: Partial<AnyComponentDefinition> = {}): AnyComponentDefinition {
  return {
    async start() {
      journal.add(`start:${name}`);
      return { name, stopped: false };
    },
    async stop(instance: { stopped: boolean }) {
      instance.stopped = true;
      journal.add(`stop:${name}`);
    },
    ...extra,
  };
}

/** Collects every event a kernel emits. */
export function collect(k: Kernel<any>): KernelEvent[] {
  const events: KernelEvent[] = [];
  k.on('event', (e) => events.push(e));
  return events;
}

export function transitions(events: KernelEvent[], component?: string): string[] {
  return events
    .filter((e): e is ComponentEvent => e.type === 'component' && (component === undefined || e.component === component))
    .map((e) => (component === undefined ? `${e.component}:${e.state}` : e.state));
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true (polling), or fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
