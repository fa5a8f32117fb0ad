/**
 * Health: the readiness gate of a start attempt, one probe within its timeout, and the liveness
 * watch of a running component (its failures go to the supervisor through the core).
 */
import { sleep } from '../util/backoff.js';
import { describeError, toError } from '../util/errors.js';
import type { Attempt } from './attempt.js';
import type { KernelCore } from './core.js';
import type { AnyComponentDefinition, HealthStatus } from './definition.js';
import { HealthCheckError } from './errors.js';
import type { Slot } from './slot.js';

export interface Verdict {
  status: HealthStatus;
  detail: unknown;
}

/** Probes until healthy or degraded; `threshold` failures in a row fail the gate. Short pauses in between. */
export async function readiness(slot: Slot, def: AnyComponentDefinition, instance: unknown, a: Attempt): Promise<Verdict> {
  const { threshold, intervalMs } = slot.spec.health;
  for (let fails = 0; ; ) {
    const r = await probe(slot, def, instance);
    if (a.done) throw a.reason;
    if (r.status !== 'unhealthy') return r;
    if (++fails >= threshold) {
      throw new HealthCheckError(slot.name, `'${slot.name}' failed its readiness probe ${fails} time(s) in a row: ${detailText(r.detail)}`, r.detail);
    }
    await sleep(Math.min(intervalMs, 10 * 2 ** fails), a.signal);
  }
}

/** One health probe within `health.timeout`; a throw or a timeout counts as unhealthy. */
export async function probe(slot: Slot, def: AnyComponentDefinition, instance: unknown): Promise<Verdict> {
  const ms = slot.spec.health.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      Promise.resolve().then(() => def.health!(instance)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HealthCheckError(slot.name, `health probe did not answer within ${ms}ms`)), ms);
      }),
    ]);
    if (r === true) return { status: 'healthy', detail: undefined };
    if (r === false) return { status: 'unhealthy', detail: 'probe returned false' };
    if (r && typeof r === 'object' && ['healthy', 'degraded', 'unhealthy'].includes((r as { status: string }).status)) {
      return { status: r.status, detail: r.detail };
    }
    return { status: 'unhealthy', detail: `probe returned ${JSON.stringify(r)} (expected a boolean or { status })` };
  } catch (err) {
    return { status: 'unhealthy', detail: describeError(toError(err, `health probe of '${slot.name}'`)) };
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness probes every `health.interval`; `threshold` failures in a row count as a crash. */
export function watch(k: KernelCore, slot: Slot): void {
  const def = slot.definition;
  if (!def?.health || slot.spec.health.intervalMs <= 0 || k.phase !== 'running') return;
  const generation = slot.generation;
  const tick = async () => {
    slot.liveTimer = undefined;
    const r = await probe(slot, def, slot.instance);
    if (k.phase !== 'running' || slot.generation !== generation || !slot.running) return;
    if (!judge(k, slot, generation, r)) return;
    slot.liveTimer = setTimeout(tick, slot.spec.health.intervalMs).unref();
  };
  slot.liveTimer = setTimeout(tick, slot.spec.health.intervalMs).unref();
}

/** Acts on one liveness verdict; false when it was the crash that ends the watch. */
function judge(k: KernelCore, slot: Slot, generation: number, r: Verdict): boolean {
  slot.healthStatus = r.status;
  slot.healthDetail = r.detail;
  if (r.status === 'unhealthy') {
    slot.liveFailures++;
    k.log(slot.name, 'warn', `liveness probe failed (${slot.liveFailures}/${slot.spec.health.threshold}): ${detailText(r.detail)}`);
    if (slot.liveFailures >= slot.spec.health.threshold) {
      k.reportFailure(slot, generation, new HealthCheckError(slot.name, `'${slot.name}' failed its liveness probe ${slot.liveFailures} times in a row: ${detailText(r.detail)}`, r.detail));
      return false;
    }
    return true;
  }
  slot.liveFailures = 0;
  const next = r.status === 'degraded' ? 'degraded' : 'ready';
  if (slot.state !== next) {
    slot.state = next;
    k.emitComponent(slot, next, { reason: 'liveness probe' });
    k.updateSystem();
  }
  return true;
}

export function unwatch(slot: Slot): void {
  if (slot.liveTimer) clearTimeout(slot.liveTimer);
  slot.liveTimer = undefined;
}

export function detailText(detail: unknown): string {
  if (detail === undefined) return 'unhealthy';
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}
