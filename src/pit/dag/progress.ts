/**
 * How a run moves: a node changing state (and the ready list with it), the news of a settled node
 * reaching its dependents, a run ending, and a retry's backoff timer. Pure bookkeeping in memory;
 * every change is queued for the checkpoint and reported as an event.
 */
import { isTerminal, type NodeRec, type Run } from './graph.js';
import type { NodeState, Outcome, RunState } from './types.js';

/** Where changed nodes and runs are queued for the next checkpoint (the Checkpoint). */
export interface ChangeQueue {
  queueNode(n: NodeRec): void;
  queueRun(run: Run): void;
  /** A change made outside any call (a backoff ended): checkpoint it. */
  changed(): void;
  /** The open store, if any: without one (shut down) a late timer changes nothing. */
  readonly store: unknown;
}

/** What RunProgress tells the tracker around it. */
export interface ProgressSink {
  /** The run ended (the tracker keeps a bounded number of finished runs in memory). */
  finished(run: Run): void;
}

/** Where events go (`pit.dag.node`, `pit.dag.run`): the extension's context, once init has it. */
export interface EventSink {
  emit(type: string, data: Record<string, unknown>): void;
}

export class RunProgress {
  /** Set at init. */
  events: EventSink | undefined;

  constructor(
    readonly queue: ChangeQueue,
    readonly sink: ProgressSink,
  ) {}

  move(n: NodeRec, to: NodeState, reason: string): void {
    const run = n.run;
    const from = n.state;
    if (from === 'ready') {
      // Nodes mostly start in the order they became ready, so this finds them at the front.
      const i = run.ready.indexOf(n.id);
      if (i === 0) run.ready.shift();
      else if (i > 0) run.ready.splice(i, 1);
    }
    n.state = to;
    n.reason = reason;
    if (to === 'ready') run.ready.push(n.id);
    if (!isTerminal(from) && isTerminal(to)) run.open--;
    const now = Date.now();
    n.updated = now;
    run.updatedAt = now;
    if (!n.dirty) {
      n.dirty = true;
      this.queue.queueNode(n);
    }
    this.events!.emit('node', { run: run.id, workflow: run.workflow.id, node: n.id, from, to, reason, attempt: n.attempts });
  }

  /** Makes a pending node ready once nothing holds it back (recorded in `released`). */
  maybeReady(n: NodeRec, reason: string, released: string[]): void {
    if (n.state !== 'pending' || n.standby || n.waitHard > 0 || n.waitSoft > 0) return;
    this.move(n, 'ready', reason);
    released.push(n.id);
  }

  /**
   * Tells `n`'s dependents its outcome, and so on: hard dependents of anything but a success are
   * skipped (their own dependents told in turn), a primary follows its activated fallback, and a
   * standby fallback whose primary settled without it is skipped. A work list, not recursion:
   * a skip can cascade down a long chain.
   */
  settle(first: NodeRec, outcome: Outcome, skipped: string[], released: string[]): void {
    const work: [NodeRec, Outcome][] = [[first, outcome]];
    while (work.length) {
      const [n, o] = work.pop()!;
      if (n.resolved !== undefined) continue;
      n.resolved = o;
      const f = n.fallback;
      if (f && f.standby && n.delegate === undefined) {
        f.standby = false;
        if (f.state === 'pending') {
          this.move(f, 'skipped', `not needed: '${n.id}' ${o}`);
          skipped.push(f.id);
          work.push([f, 'skipped']);
        }
      }
      for (const d of n.hardDependents) {
        if (o === 'succeeded') {
          d.waitHard--;
          this.maybeReady(d, `dependencies settled (last: '${n.id}' ${o})`, released);
        } else if (d.state === 'pending') {
          d.standby = false;
          this.move(d, 'skipped', `hard need '${n.id}' ${o}`);
          skipped.push(d.id);
          work.push([d, 'skipped']);
        }
      }
      for (const d of n.softDependents) {
        d.waitSoft--;
        this.maybeReady(d, `dependencies settled (last: '${n.id}' ${o})`, released);
      }
      const p = n.primary;
      if (p && p.delegate === n) work.push([p, o]);
    }
  }

  /** Ends the run, cancelling every unfinished node. */
  finish(run: Run, state: RunState, reason: string): string[] {
    const cancelled: string[] = [];
    for (const n of run.list) {
      if (isTerminal(n.state)) continue;
      this.clearTimer(n);
      n.standby = false;
      this.move(n, 'cancelled', `run ${state}: ${reason}`);
      cancelled.push(n.id);
    }
    const from = run.state;
    run.state = state;
    run.reason = reason;
    run.updatedAt = Date.now();
    if (!run.dirty) {
      run.dirty = true;
      this.queue.queueRun(run);
    }
    this.events!.emit('run', { run: run.id, workflow: run.workflow.id, from, to: state, reason });
    this.sink.finished(run);
    return cancelled;
  }

  /** A running run whose every node settled has succeeded (a failure would have ended it already). */
  checkDone(run: Run): void {
    if (run.state !== 'running' || run.open > 0) return;
    const count: Partial<Record<NodeState, number>> = {};
    for (const n of run.list) count[n.state] = (count[n.state] ?? 0) + 1;
    const parts = Object.entries(count).map(([s, k]) => `${k} ${s}`);
    this.finish(run, 'succeeded', `every node settled and no required node failed (${parts.join(', ')})`);
  }

  /** Turns a retrying node ready when its backoff ends. */
  arm(n: NodeRec): void {
    this.clearTimer(n);
    const wait = Math.max(0, (n.readyAt ?? 0) - Date.now());
    n.timer = setTimeout(() => {
      n.timer = undefined;
      if (n.state !== 'retrying' || n.run.state !== 'running' || this.queue.store === undefined) return;
      n.readyAt = undefined;
      this.move(n, 'ready', `backoff over: ready for attempt ${n.attempts + 1}`);
      this.queue.changed();
    }, wait);
  }

  clearTimer(n: NodeRec): void {
    if (n.timer) clearTimeout(n.timer);
    n.timer = undefined;
  }
}
