/**
 * Says when a confined extension runs into one of its limits: the kernel's own counters (CPU
 * periods throttled, forks refused at its process limit, allocations held at its memory limit)
 * and its private scratch folder's free space, looked at once a second. Each limit is named the
 * first time it holds the extension back, then at most every 30 s with the count since: a
 * spinning or forking extension is visible in the log without flooding it.
 */
import type { Logger } from '../bootstrap/index.js';
import type { Confinement } from '../sandbox/index.js';

const EVERY_MS = 1000;
const QUIET_MS = 30_000;

type Kind = 'cpu' | 'processes' | 'memory' | 'scratch';

/** Starts watching; returns the stop. */
export function monitorLimits(name: string, confinement: Confinement, log: Logger): () => void {
  const l = confinement.limits;
  const last = { cpu: 0, processes: 0, memory: 0 };
  const saidAt = new Map<Kind, number>();
  let scratchWasFull = false;
  const say = (kind: Kind, message: string) => {
    const now = Date.now();
    if (now - (saidAt.get(kind) ?? -Infinity) < QUIET_MS) return false;
    saidAt.set(kind, now);
    log.warn(`extension '${name}' ${message}`);
    return true;
  };
  const check = () => {
    const p = confinement.pressure();
    if (!p) return;
    // Counted since the last line said (a quiet period keeps adding up).
    if (p.cpuThrottled > last.cpu && say('cpu', `is held at its CPU limit of ${l.cpuPercent}% of a core (throttled in ${p.cpuThrottled - last.cpu} scheduling period(s))`)) last.cpu = p.cpuThrottled;
    if (p.processesRefused > last.processes && say('processes', `reached its process limit of ${l.processes} (pids.max): ${p.processesRefused - last.processes} fork(s) refused with EAGAIN`)) last.processes = p.processesRefused;
    if (p.memoryHits > last.memory && l.memoryMb && say('memory', `is at its memory limit of ${l.memoryMb} MB (${p.memoryHits - last.memory} allocation(s) held back; past it the kernel kills it)`)) last.memory = p.memoryHits;
    if (p.scratchFull && !scratchWasFull) say('scratch', `filled its private scratch /tmp (${l.scratchMb} MB, in memory, not on the host's disk): its writes there fail with ENOSPC`);
    scratchWasFull = p.scratchFull;
  };
  const timer = setInterval(check, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
