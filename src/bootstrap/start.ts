/**
 * Starting a component: one attempt (start, then the readiness gate, within its deadline) and the
 * retries with backoff around it. Shared by the boot, the supervisor and the swap.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { backoffDelay } from '../util/backoff.js';
import { toError } from '../util/errors.js';
import { Attempt, type Operation, type Outcome } from './attempt.js';
import { StartContext } from './contexts.js';
import type { KernelCore } from './core.js';
import type { AnyComponentDefinition } from './definition.js';
import { readiness } from './health.js';
import type { Slot } from './slot.js';
import { discard } from './teardown.js';

export interface StartHow {
  reason?: string;
  /** A swap's new instance, started beside the old one with these settings. */
  shadow?: { config: unknown };
  /** Attempt 1 already ran (a boot's first attempt) and failed with this outcome. */
  after?: Outcome;
}

/** All attempts for one start (retries with exponential backoff and jitter). Never rejects. */
export async function startWithRetries(k: KernelCore, slot: Slot, def: AnyComponentDefinition, op: Operation, how: StartHow = {}): Promise<Outcome> {
  const max = slot.spec.retries + 1;
  let n = 1;
  let outcome = how.after ?? (await attemptWithTimer(k, slot, def, op, n, how));
  for (;;) {
    if (outcome.ok || n >= max || op.reason) return outcome;
    const delay = backoffDelay(slot.spec.backoff, n, k.random);
    k.emitComponent(slot, 'starting', {
      attempt: n,
      error: outcome.error,
      reason: `attempt ${n} of ${max} failed; retry in ${Math.round(delay)}ms`,
    });
    await op.pause(delay);
    if (op.reason) return { ok: false, error: op.reason, phase: 'aborted' };
    outcome = await attemptWithTimer(k, slot, def, op, ++n, how);
  }
}

/** Attempt `n`, with a deadline timer of its own, as a promise of its outcome. */
function attemptWithTimer(k: KernelCore, slot: Slot, def: AnyComponentDefinition, op: Operation, n: number, how: StartHow): Promise<Outcome> {
  const a = new Attempt(slot, n, performance.now() + slot.spec.timeoutMs, op);
  const shadow = how.shadow;
  beginAttempt(k, slot, n, how.reason, shadow !== undefined);
  return new Promise<Outcome>((resolve) => {
    a.resolve = resolve;
    runAttempt(k, slot, def, a, op, true, shadow ? shadow.config : slot.spec.config);
  });
}

/** Counts and announces an attempt. A shadow start (swap) leaves the slot as it is: the old instance stays current until the switch. */
export function beginAttempt(k: KernelCore, slot: Slot, n: number, reason: string | undefined, shadow: boolean): void {
  if (!shadow) {
    slot.attempts++;
    slot.state = 'starting';
  }
  if (k.events.active) k.emitComponent(slot, shadow ? slot.state : 'starting', { attempt: n, reason: shadow ? 'swap: new instance starting' : reason });
}

/** One attempt: start, then the readiness gate, within the attempt's deadline. Settles `a`, exactly once. */
export function runAttempt(k: KernelCore, slot: Slot, def: AnyComponentDefinition, a: Attempt, op: Operation, ownTimer: boolean, config: unknown): void {
  if (op.reason) return a.expire(op.reason, 'aborted');
  if (ownTimer) {
    a.tracker = op;
    op.attempts.add(a);
    a.timer = setTimeout(() => a.timeout(), Math.max(0, a.deadline - performance.now()));
  }
  a.generation = ++slot.serial;
  const ctx = new StartContext(slot.depsSnapshot(), a, k, a.generation, config);
  let result: unknown;
  try {
    result = def.start(ctx);
  } catch (err) {
    return a.settle({ ok: false, error: toError(err, `start of '${slot.name}'`), phase: 'start' });
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(
      (instance) => started(k, slot, def, a, instance),
      (err: unknown) => a.settle({ ok: false, error: toError(err, `start of '${slot.name}'`), phase: 'start' }),
    );
  } else {
    started(k, slot, def, a, result);
  }
}

/** The start returned an instance: gate it on health if it has a probe. */
function started(k: KernelCore, slot: Slot, def: AnyComponentDefinition, a: Attempt, instance: unknown): void {
  if (a.done) return discard(k, slot, def, instance, 'abandoned');
  if (!def.health) return a.settle({ ok: true, instance, status: 'healthy', detail: undefined, generation: a.generation });
  a.phase = 'health';
  readiness(slot, def, instance, a).then(
    (h) => (a.done ? discard(k, slot, def, instance, 'abandoned') : a.settle({ ok: true, instance, status: h.status, detail: h.detail, generation: a.generation })),
    (err: unknown) => {
      a.settle({ ok: false, error: toError(err, `health of '${slot.name}'`), phase: 'health' });
      discard(k, slot, def, instance, 'rollback');
    },
  );
}
