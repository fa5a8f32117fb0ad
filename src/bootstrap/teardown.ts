/**
 * Teardown: stopping components in reverse dependency order (the system's stop, a rollback, the
 * members of a restart or a swap), one discarded instance, and the stop of the whole system.
 */
import { teardownIndexed } from '../container/index.js';
import { KernelStopContext } from './contexts.js';
import type { KernelCore } from './core.js';
import type { AnyComponentDefinition, StopContext } from './definition.js';
import { unwatch } from './health.js';
import type { Slot } from './slot.js';

/** The dependency lists of a teardown of one node: none (never written to). */
const ONE_NODE_DEP_START = new Int32Array(2);
const NO_DEPS: readonly number[] = Object.freeze([]);

/** Stops an instance nobody will use (a start that finished after its deadline, a failed gate). Errors are logged, not thrown. */
export function discard(k: KernelCore, slot: Slot, def: AnyComponentDefinition, instance: unknown, reason: StopContext['reason']): void {
  if (!def.stop) return;
  void stopInstance(k, slot, def, instance, reason).then((err) => {
    if (err) k.log('kernel', 'warn', `stopping a discarded instance of '${slot.name}' failed: ${err.message}`);
  });
}

/** Calls `stop` within the component's shutdown; resolves with the error, if any. */
export async function stopInstance(k: KernelCore, slot: Slot, def: AnyComponentDefinition, instance: unknown, reason: StopContext['reason']): Promise<Error | undefined> {
  const errors = await teardownIndexed({
    size: 1,
    depStart: ONE_NODE_DEP_START,
    depList: NO_DEPS,
    stop: (i, signals) => {
      const stop = def.stop;
      return stop ? stop.call(def, instance, new KernelStopContext(slot.name, reason, signals, i, k)) : undefined;
    },
    timeoutMs: () => slot.spec.stopTimeoutMs,
    brutal: () => slot.spec.shutdown === 'brutal_kill',
    describe: () => slot.name,
  });
  return errors[0];
}

/** Each member's dependencies (needs, then wants) among the members, by position in `slots`. */
function edgesAmong(k: KernelCore, slots: Slot[]): { depStart: Int32Array; depList: number[] } {
  const n = slots.length;
  const position = new Int32Array(k.slots.length).fill(-1);
  for (let i = 0; i < n; i++) position[slots[i]!.index] = i;
  const depStart = new Int32Array(n + 1);
  const depList: number[] = [];
  const lastFrom = new Int32Array(n).fill(-1); // lastFrom[j] === i: j is listed for i already
  const add = (i: number, deps: readonly Slot[]) => {
    for (let e = 0; e < deps.length; e++) {
      const j = position[deps[e]!.index]!;
      if (j < 0 || j === i || lastFrom[j] === i) continue;
      lastFrom[j] = i;
      depList.push(j);
    }
  };
  for (let i = 0; i < n; i++) {
    depStart[i] = depList.length;
    add(i, slots[i]!.needSlots);
    add(i, slots[i]!.wantSlots);
  }
  depStart[n] = depList.length;
  return { depStart, depList };
}

/** Stops running slots in reverse dependency order; each ends `stopped` (with its error if the stop failed). */
export function teardown(k: KernelCore, slots: Slot[], reason: StopContext['reason']): Promise<Error[]> {
  const { depStart, depList } = edgesAmong(k, slots);
  return teardownIndexed({
    size: slots.length,
    depStart,
    depList,
    stop: (i, signals) => {
      const s = slots[i]!;
      const def = s.definition;
      const stop = def?.stop;
      return stop ? stop.call(def, s.instance, new KernelStopContext(s.name, reason, signals, i, k)) : undefined;
    },
    timeoutMs: (i) => slots[i]!.spec.stopTimeoutMs,
    brutal: (i) => slots[i]!.spec.shutdown === 'brutal_kill',
    describe: (i) => slots[i]!.name,
    onStopping: (i) => {
      const s = slots[i]!;
      unwatch(s);
      s.state = 'stopping';
      if (k.events.active) k.emitComponent(s, 'stopping', { reason });
    },
    onStopped: (i, error) => {
      const s = slots[i]!;
      s.hasInstance = false;
      s.state = 'stopped';
      if (error) s.error = error;
      if (k.events.active) k.emitComponent(s, 'stopped', { reason, error });
    },
  });
}

/** Stops the running system: every instance in reverse dependency order, after any restart or swap under way. */
export async function stopSystem(k: KernelCore, reason: string, code: 0 | 1): Promise<void> {
  k.phase = 'stopping';
  k.emitSystem('stopping', reason);
  for (const slot of k.order) unwatch(slot);
  await k.ops.catch(() => {}); // let a restart or swap under way finish first
  const errors = await teardown(k, k.order.filter((s) => s.hasInstance), 'shutdown');
  k.phase = 'stopped';
  k.emitSystem('stopped', reason);
  const failed = errors.length > 0;
  k.finish({ code: failed ? 1 : code, reason: failed ? `${errors.length} component(s) failed to stop` : reason });
  if (failed) throw new AggregateError(errors, `${errors.length} component(s) failed to stop: ${errors.map((e) => e.message).join('; ')}`);
}
