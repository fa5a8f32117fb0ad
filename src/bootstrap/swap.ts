/**
 * Swap: replaces a component's definition while the system runs. The new instance starts beside
 * the old one and is gated on health; then the dependents are stopped, every stable handle
 * switches, the dependents restart against the new instance, and the old one stops. Any failure
 * rolls back to the old instance, which kept running until the new one took over.
 */
import { describeError } from '../util/errors.js';
import { Operation } from './attempt.js';
import type { KernelCore } from './core.js';
import type { AnyComponentDefinition } from './definition.js';
import { SwapError } from './errors.js';
import { unwatch, watch } from './health.js';
import type { Slot } from './slot.js';
import type { ComponentSpec } from './spec.js';
import { startWithRetries } from './start.js';
import { withDependents } from './strategies.js';
import { startGroup } from './supervisor.js';
import { stopInstance, teardown } from './teardown.js';

export async function swap(k: KernelCore, slot: Slot, def: AnyComponentDefinition, options: { with?: unknown }): Promise<void> {
  if (k.phase !== 'running' || !slot.running) {
    throw new SwapError(`cannot swap '${slot.name}': ${k.phase !== 'running' ? `the kernel is ${k.phase}` : `it is ${slot.state}`}`, slot.name, false);
  }
  const oldDef = slot.definition!;
  const oldInstance = slot.instance;
  const oldSpec = slot.spec;
  const oldGeneration = slot.generation;
  const config = options.with === undefined ? oldSpec.config : options.with;
  k.log('kernel', 'info', `swapping '${slot.name}': starting the new instance`);

  // 1. The new instance, started beside the old one and gated on health.
  const outcome = await startWithRetries(k, slot, def, new Operation(), { shadow: { config } });
  if (!outcome.ok) {
    k.emitComponent(slot, slot.state, { reason: 'swap rolled back: the new instance did not start', error: outcome.error });
    throw new SwapError(`swap of '${slot.name}' rolled back: the new instance did not start: ${describeError(outcome.error)}`, slot.name, true, { cause: outcome.error });
  }

  // 2. Dependents hold the old instance: stop them, switch, restart them against the new one.
  const dependents = withDependents(k, slot).filter((s) => s !== slot && s.running);
  unwatch(slot);
  await teardown(k, dependents, 'swap');
  slot.definition = def;
  (slot as { spec: ComponentSpec }).spec = { ...oldSpec, config };
  k.becomeRunning(slot, outcome);
  const failed = await startGroup(k, dependents, `swap of '${slot.name}'`);
  if (failed) {
    // 3. Roll back: the old instance never stopped; put it back and restart the dependents against it.
    await teardown(k, dependents.filter((s) => s.running), 'rollback');
    slot.definition = oldDef;
    slot.instance = oldInstance;
    slot.generation = oldGeneration; // the old instance's ctx.fail() counts again; the discarded new one's does not
    (slot as { spec: ComponentSpec }).spec = oldSpec;
    k.emitComponent(slot, slot.state, { reason: 'swap rolled back' });
    const newDef = def;
    void stopInstance(k, slot, newDef, outcome.instance, 'rollback');
    const again = await startGroup(k, dependents, `swap of '${slot.name}' rolled back`);
    watch(k, slot);
    k.updateSystem();
    if (again) k.log('kernel', 'error', `after the swap rollback, dependents of '${slot.name}' did not restart: '${again.slot.name}': ${describeError(again.error)}`);
    throw new SwapError(`swap of '${slot.name}' rolled back: '${failed.slot.name}' did not restart: ${describeError(failed.error)}`, slot.name, true, { cause: failed.error });
  }
  // 4. Drain and stop the old instance.
  const err = await stopInstance(k, slot, oldDef, oldInstance, 'swap');
  if (err) k.log('kernel', 'warn', `the old instance of '${slot.name}' did not stop cleanly: ${err.message}`);
  watch(k, slot);
  k.updateSystem();
  k.log('kernel', 'info', `swapped '${slot.name}'`);
}
