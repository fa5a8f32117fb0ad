/**
 * The supervisor, as in OTP: a failure of a running component is acted on by its restart type
 * (permanent, transient, temporary), within its restart intensity (`max` within `within`), by its
 * strategy (strategies.ts); past the intensity, it escalates.
 */
import { backoffDelay, sleep } from '../util/backoff.js';
import { describeError, toError } from '../util/errors.js';
import { Operation } from './attempt.js';
import type { KernelCore } from './core.js';
import { DependencyFailedError, KernelError } from './errors.js';
import { unwatch, watch } from './health.js';
import type { Slot } from './slot.js';
import { startWithRetries } from './start.js';
import { STRATEGIES, type StrategyName } from './strategies.js';
import { stopSystem, teardown } from './teardown.js';

export interface Casualty {
  slot: Slot;
  error: Error;
}

/** A `ctx.fail()` or a failed liveness probe of the instance of `generation`. */
export function reportFailure(k: KernelCore, slot: Slot, generation: number, error: unknown): void {
  if (slot.generation !== generation || !slot.running) return;
  if (k.phase === 'booting') {
    // Heard while later stages still start: acted on once the boot is over, not dropped.
    slot.pendingFailure ??= { generation, error: toError(error, `'${slot.name}'`) };
    return;
  }
  if (k.phase !== 'running') return;
  const err = toError(error, `'${slot.name}'`);
  unwatch(slot);
  slot.error = err;
  slot.state = 'failed';
  k.emitComponent(slot, 'failed', { error: err });
  k.updateSystem();
  supervise(k, slot, generation, err);
}

/**
 * A `ctx.exit()`: the component ended normally. A permanent one is restarted as after a failure;
 * a transient or temporary one is stopped, with what needs it, and stays down without degrading
 * the system.
 */
export function reportExit(k: KernelCore, slot: Slot, generation: number, reason: string): void {
  if (slot.generation !== generation || !slot.running) return;
  if (k.phase === 'booting') {
    slot.pendingFailure ??= { generation, error: new KernelError(`'${slot.name}' exited: ${reason}`), exit: reason };
    return;
  }
  if (k.phase !== 'running') return;
  if (slot.spec.restart.type === 'permanent') return reportFailure(k, slot, generation, new KernelError(`'${slot.name}' exited (${reason}); its restart type is permanent`));
  void k.serialize(async () => {
    if (k.phase !== 'running' || slot.generation !== generation || !slot.running) return;
    const group = [...neededBy(k, slot), slot];
    for (const s of group) s.exited = true;
    k.log('kernel', 'info', `'${slot.name}' exited (${reason}); its restart type is ${slot.spec.restart.type}, so it stays down${group.length > 1 ? ` with ${group.slice(0, -1).map((s) => `'${s.name}'`).join(', ')}, which need it` : ''}`);
    await teardown(k, group.filter((s) => s.hasInstance), 'shutdown');
    k.updateSystem();
  });
}

/**
 * Restarts a failed component per its strategy, within its restart intensity. A restart that
 * fails is one more failure (counted, then retried after the backoff) until the intensity is
 * exceeded; then it escalates. Another member of the group that does not come back is
 * supervised in turn, by its own policy.
 */
export function supervise(k: KernelCore, slot: Slot, generation: number, first: Error): void {
  void k.serialize(async () => {
    let error = first;
    for (;;) {
      if (k.phase !== 'running' || slot.generation !== generation || slot.state !== 'failed') return;
      const { strategy, type, max, withinMs } = slot.spec.restart;
      if (type === 'temporary') return escalate(k, slot, error, slot.spec.options.restart?.strategy === 'never' ? 'its restart strategy is never' : 'its restart type is temporary');
      const now = k.now();
      const recent = slot.restarts.filter((t) => now - t < withinMs);
      slot.restarts = recent;
      if (recent.length >= max) return escalate(k, slot, error, `it failed more than ${max} times within ${withinMs}ms`);
      recent.push(now);
      await pauseBeforeRestart(k, slot);
      if (k.phase !== 'running') return; // stopped meanwhile: the stop takes it from here
      const failed = await restart(k, slot, strategy, describeError(error));
      if (!failed) return;
      if (failed.slot !== slot) return supervise(k, failed.slot, failed.slot.generation, failed.error);
      error = failed.error;
    }
  });
}

function pauseBeforeRestart(k: KernelCore, slot: Slot): Promise<void> {
  const n = slot.restarts.length;
  return n <= 1 ? Promise.resolve() : sleep(backoffDelay(slot.spec.backoff, n - 1, k.random));
}

/**
 * Restarts the members its strategy names, in dependency order, after stopping those still up in
 * reverse order. Returns the member that did not come back, if one did not.
 */
export async function restart(k: KernelCore, slot: Slot, strategy: StrategyName, why: string): Promise<Casualty | undefined> {
  if (k.phase !== 'running') throw new KernelError(`cannot restart '${slot.name}' while the kernel is ${k.phase}`);
  const group = STRATEGIES[strategy](k, slot);
  const reason = strategy !== 'one_for_one' && group.length > 1 ? `${strategy} after '${slot.name}' failed: ${why}` : `${strategy}: ${why}`;
  k.log('kernel', 'warn', `restarting ${group.map((s) => `'${s.name}'`).join(', ')} (${reason})`);
  await teardown(k, group.filter((s) => s.hasInstance), 'restart');
  const failed = await startGroup(k, group, reason, slot);
  k.updateSystem();
  return failed;
}

/**
 * Starts slots in dependency order (concurrently within a stage). Strict (a swap): returns the
 * first failure. For the restart of `restarted`: a member whose needs are not running is not
 * started (failed with DependencyFailedError; it comes back with them); another optional member
 * that fails is supervised on its own; the first required one that fails is returned.
 */
export async function startGroup(k: KernelCore, group: Slot[], reason: string, restarted?: Slot): Promise<Casualty | undefined> {
  const byStage = new Map<number, Slot[]>();
  for (const s of group) (byStage.get(s.stageIndex) ?? byStage.set(s.stageIndex, []).get(s.stageIndex)!).push(s);
  const op = new Operation();
  let firstRequired: Casualty | undefined;
  for (const stage of [...byStage.keys()].sort((a, b) => a - b)) {
    const results = await Promise.all(byStage.get(stage)!.map((s) => startMember(k, s, op, reason, restarted)));
    const failure = results.find((e) => e);
    if (failure && restarted === undefined) return failure;
    if (failure && !firstRequired) firstRequired = failure;
  }
  return firstRequired;
}

async function startMember(k: KernelCore, s: Slot, op: Operation, reason: string, restarted: Slot | undefined): Promise<Casualty | undefined> {
  const supervised = restarted !== undefined;
  if (supervised) {
    const down = s.needSlots.find((n) => !n.running);
    if (down) {
      k.markFailed(s, new DependencyFailedError(s.name, down.name), 'start');
      return s.spec.optional ? undefined : { slot: s, error: s.error! };
    }
  }
  const outcome = await startWithRetries(k, s, s.definition!, op, { reason });
  if (outcome.ok) {
    k.becomeRunning(s, outcome);
    watch(k, s);
    return undefined;
  }
  k.markFailed(s, outcome.error, outcome.phase);
  if (supervised && s.spec.optional && s !== restarted) {
    supervise(k, s, s.generation, outcome.error);
    return undefined;
  }
  return { slot: s, error: outcome.error };
}

/**
 * Escalation. A required component stops the system with exit 1 (everything in reverse
 * dependency order, it included). An optional one stays down with everything that needs it
 * (stopped in reverse order; the system is degraded), unless one of those is required: then
 * the system stops.
 */
export async function escalate(k: KernelCore, slot: Slot, error: Error, why: string): Promise<void> {
  if (k.phase !== 'running' || k.stopping) return; // a stop under way takes it from here
  if (!slot.spec.optional) {
    slot.state = 'failed';
    slot.error = error;
    k.emitComponent(slot, 'failed', { error, reason: `escalated: ${why}` });
    return stopForGood(k, `'${slot.name}' failed and ${why}: ${describeError(error)}`);
  }
  const needers = neededBy(k, slot);
  await teardown(k, [...needers, slot].filter((s) => s.hasInstance), 'shutdown');
  slot.state = 'failed';
  slot.error = error;
  k.emitComponent(slot, 'failed', { error, reason: `escalated: ${why}` });
  for (const d of needers) {
    d.state = 'failed';
    d.error = new DependencyFailedError(d.name, slot.name);
    k.emitComponent(d, 'failed', { error: d.error, reason: `escalated: it needs '${slot.name}', which is down for good` });
  }
  const required = needers.find((d) => !d.spec.optional);
  if (required) return stopForGood(k, `'${required.name}' needs '${slot.name}', which failed and ${why}: ${describeError(error)}`);
  k.log('kernel', 'error', `'${slot.name}' is down for good (${why})${needers.length ? `, and with it ${needers.map((d) => `'${d.name}'`).join(', ')}, which need it` : ''}; it is optional, so the system carries on degraded`);
  k.updateSystem();
}

function stopForGood(k: KernelCore, reason: string): void {
  k.log('kernel', 'error', `${reason}; stopping the system`);
  k.stopping = stopSystem(k, reason, 1).catch(() => {});
}

/** The running components that need `slot`, directly or through others (`needs` edges only), in start order. */
export function neededBy(k: KernelCore, slot: Slot): Slot[] {
  const out = new Set<Slot>();
  for (const s of k.order) {
    if (s === slot || !s.running) continue;
    if (s.needSlots.some((n) => n === slot || out.has(n))) out.add(s);
  }
  return [...out];
}
