import type { Logger } from '../bootstrap/index.js';
import { BusError, type Bus } from '../bus/index.js';
import type { DagFailure, DagProgress } from '../pit/index.js';
import { chamber } from './chambering.js';
import { resolveValue } from './expressions.js';
import type { Latencies } from './latency.js';
import type { Melody } from './melody.js';
import { request, type ConductorCall, type ConductorCalls } from './methods.js';
import type { Decision, DecisionPolicy, Question } from './policy.js';
import { storeResult, type Chambering, type MelodyResult, type StepResult } from './result.js';
import { RunArtifacts } from './run-artifacts.js';
import { performStep, type RunScope, type StepHost, type StepOutcome } from './step.js';
import { FALLBACK, toWorkflow } from './workflow.js';

/** What a run uses of its Conductor, read as it goes (a policy swapped mid-run answers the next question). */
export interface RunStage {
  readonly bus: Bus;
  readonly log: Logger;
  readonly policy: DecisionPolicy;
  readonly latency: Latencies;
}

type RunState = DagProgress['state'];

/**
 * One run of a melody, in the order of the Chambering flow: `perform` registers and activates the
 * providers, creates the DAG Tracker run, drives it (each released node launched, its outcome
 * reported back, the tracker's recovery decision applied), then concludes: outputs, compensation
 * of a failed run, the stored result and the Stale Manager's pass.
 */
export class MelodyRun implements StepHost {
  readonly steps: Record<string, StepResult> = Object.create(null);
  readonly decisions: Decision[] = [];
  readonly scope: RunScope;
  readonly artifacts: RunArtifacts;
  /** The DAG Tracker's run, once created. */
  run = '';
  #spent = 0;
  /** The steps that succeeded (not those skipped by `when`), in order: compensated newest first. */
  readonly #completed: string[] = [];
  /** This side's view of the run: it may stop it (the policy, a refused report) before the tracker says so. */
  #state: RunState = 'running';
  #reason = '';
  readonly #inflight = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #finish = () => {};

  constructor(
    readonly stage: RunStage,
    readonly melody: Melody,
    inputs: Record<string, unknown>,
    readonly options: { signal?: AbortSignal; principal?: string },
  ) {
    // Null-prototype records: step names are the melody's (`constructor`, `__proto__` are plain keys).
    for (const id of Object.keys(melody.steps)) this.steps[id] = { state: 'pending', attempts: 0, provider: null };
    this.artifacts = new RunArtifacts(stage.bus, options.principal);
    this.scope = { inputs, steps: Object.create(null), melody: { name: melody.melody }, artifacts: this.artifacts.values };
  }

  get bus(): Bus {
    return this.stage.bus;
  }
  get latency(): Latencies {
    return this.stage.latency;
  }
  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }
  get spent(): number {
    return this.#spent;
  }
  spend(cost: number): void {
    this.#spent += cost;
  }

  async decide(q: Question): Promise<Decision> {
    const policy = this.stage.policy;
    const answer = await policy.decide(q);
    const d: Decision = { kind: q.kind, step: q.step, choice: answer.choice, rationale: answer.rationale, by: answer.by ?? policy.name, at: Date.now() };
    this.decisions.push(d);
    if (d.by.startsWith('builtin (fallback')) this.stage.log.warn(`decision for '${q.step}' (${q.kind}): ${d.by}`);
    return d;
  }

  /** The run from registration to its stored result; a failed melody is a result, not an exception. */
  async perform(): Promise<MelodyResult> {
    const chambering = await chamber(this.bus, this.melody, this.stage.log);
    const t0 = performance.now();
    const ready = await this.#create();
    await this.#drive(ready);
    const result = await this.#conclude(chambering, t0);
    await this.#computeOutputs(result);
    // A failed melody (its steps, or its outputs) is compensated.
    if (result.state !== 'succeeded') result.compensated = await this.#compensate();
    result.artifact = await storeResult(this.bus, result, this.stage.log);
    await this.#reclaim(chambering);
    return result;
  }

  /** A call to one of the parts' declared methods (the Pit's, here), typed by its declaration. */
  #call<M extends ConductorCall>(method: M, params: ConductorCalls[M]['params']): Promise<ConductorCalls[M]['result']> {
    return request(this.bus, method, params);
  }

  /** The DAG Tracker run: its nodes the steps (and fallbacks); answers the nodes ready at once. */
  async #create(): Promise<string[]> {
    const created = await this.#call('dag.create', { workflow: toWorkflow(this.melody) });
    this.run = created.run;
    this.scope.melody.run = created.run;
    this.stage.log.info(`melody '${this.melody.melody}' started as run ${created.run}`);
    return created.ready;
  }

  /** Resolves once the run has ended and no step is in flight. */
  #drive(ready: string[]): Promise<void> {
    return new Promise<void>((finish) => {
      this.#finish = finish;
      this.options.signal?.addEventListener('abort', () => this.#cancel());
      this.#launchAll(ready);
      this.#settleIfDone();
    });
  }

  #settleIfDone(): void {
    if (this.#state !== 'running' && this.#inflight.size === 0) {
      for (const t of this.#timers) clearTimeout(t);
      this.#finish();
    }
  }

  /** The tracker's answer to a report: the run's state, and the nodes it released. */
  #onProgress(p: DagProgress): void {
    if (p.state !== 'running' && this.#state === 'running') this.#state = p.state;
    this.#launchAll(p.released);
    this.#settleIfDone();
  }

  #launchAll(ids: string[]): void {
    for (const id of ids) if (!this.#inflight.has(id) && this.#state === 'running') void this.#launch(id);
  }

  /** After a retry's delay: the nodes ready now. */
  async #refresh(): Promise<void> {
    const r = await this.#call('dag.ready', { run: this.run });
    this.#launchAll(r.ready);
  }

  #cancel(): void {
    this.#reason = 'cancelled';
    void this.#call('dag.cancel', { run: this.run, reason: 'the melody was cancelled' }).then(() => {
      this.#state = 'cancelled';
      this.#settleIfDone();
    });
  }

  /** One node: started with the tracker, performed, its outcome reported back. */
  async #launch(node: string): Promise<void> {
    this.#inflight.add(node);
    const isFallback = node.endsWith(FALLBACK);
    const id = isFallback ? node.slice(0, -FALLBACK.length) : node;
    const step = this.melody.steps[id]!;
    try {
      const { attempt } = await this.#call('dag.start', { run: this.run, node });
      this.steps[id]!.attempts++;
      this.steps[id]!.state = 'running';
      let outcome: StepOutcome;
      try {
        outcome = await performStep(this, id, step, isFallback);
      } catch (err) {
        return await this.#failed(node, id, attempt, err);
      }
      await this.#succeeded(node, id, isFallback, outcome);
    } catch (err) {
      // The tracker refused (cancelled run, a bug): stop this melody cleanly rather than hang.
      this.#inflight.delete(node);
      if (this.#state === 'running') {
        this.#state = 'failed';
        this.#reason = `the DAG Tracker refused '${node}': ${(err as Error).message}`;
      }
      this.#settleIfDone();
    }
  }

  async #succeeded(node: string, id: string, isFallback: boolean, { output, note, skipped = false, provider }: StepOutcome): Promise<void> {
    const s = this.steps[id]!;
    // A step skipped by `when` did not run: its output is null, and it has nothing to compensate.
    this.scope.steps[id] = { output, state: skipped ? 'skipped' : 'succeeded' };
    s.state = skipped ? 'skipped' : isFallback ? 'succeeded (fallback)' : 'succeeded';
    s.output = output;
    if (provider) s.provider = provider; // the method that served it (the policy's pick among alternatives, or the fallback)
    if (note) s.note = note;
    if (!skipped) this.#completed.push(id);
    const r = await this.#call('dag.complete', { run: this.run, node, output: output === undefined ? null : output });
    this.#inflight.delete(node);
    this.#onProgress(r);
  }

  /** A failed attempt: the tracker's recovery decision, which the policy may overrule, applied. */
  async #failed(node: string, id: string, attempt: number, err: unknown): Promise<void> {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = err instanceof BusError ? err.code : undefined;
    // A refusal by the budget cannot change on a new attempt: not retried (its onFailure applies).
    const final = err instanceof BusError && isFinal(err.data);
    const r = await this.#call('dag.fail', { run: this.run, node, error: e.message, final });
    const verdict = await this.decide({ kind: 'failure', melody: this.melody.melody, run: this.run, step: id, attempt, error: { code, message: e.message }, proposed: { action: r.decision.action, rationale: r.decision.rationale } });
    this.steps[id]!.error = e.message;
    if (verdict.choice === 'fail' && r.decision.action !== 'fail' && r.state === 'running') {
      await this.#overruled(id, verdict);
    } else if (r.decision.action === 'retry') {
      this.steps[id]!.state = 'retrying';
      const t = setTimeout(() => {
        this.#timers.delete(t);
        void this.#refresh();
      }, r.decision.delayMs + 1);
      this.#timers.add(t);
    } else {
      this.#recovered(id, r.decision);
    }
    this.#inflight.delete(node);
    this.#onProgress(r);
  }

  /**
   * The policy overrules the recovery rule: the step fails and the run stops here (the tracker's
   * run is cancelled, the melody is failed).
   */
  async #overruled(id: string, verdict: Decision): Promise<void> {
    this.steps[id]!.state = 'failed';
    this.steps[id]!.note = `the policy failed it: ${verdict.rationale}`;
    if (this.#state === 'running') {
      this.#state = 'failed';
      this.#reason = `step '${id}' failed and the policy stopped the melody: ${verdict.rationale}`;
    }
    await this.#call('dag.cancel', { run: this.run, reason: `the policy failed '${id}': ${verdict.rationale}` });
  }

  /** A fallback, skip or fail decision, as the step's state (and the steps skipped with it). */
  #recovered(id: string, decision: Exclude<DagFailure['decision'], { action: 'retry' }>): void {
    const s = this.steps[id]!;
    s.state = decision.action === 'fallback' ? 'failed (fallback)' : decision.action === 'skip' ? 'skipped' : 'failed';
    s.note = decision.rationale;
    if (decision.action === 'fail' && decision.runFailed) this.#reason = decision.rationale;
    if (decision.action === 'skip' || decision.action === 'fail') {
      for (const other of decision.skipped ?? []) if (Object.hasOwn(this.steps, other) && this.steps[other]!.state === 'pending') this.steps[other]!.state = 'skipped';
    }
  }

  /** The result as the tracker ended the run (steps never reached take the tracker's state). */
  async #conclude(chambering: Chambering, t0: number): Promise<MelodyResult> {
    const final = await this.#call('dag.status', { run: this.run });
    for (const [node, s] of Object.entries(final.nodes)) {
      if (!node.endsWith(FALLBACK) && Object.hasOwn(this.steps, node) && (this.steps[node]!.state === 'pending' || this.steps[node]!.state === 'retrying')) this.steps[node]!.state = s.state;
    }
    return {
      melody: this.melody.melody,
      run: this.run,
      // A run this side stopped as failed (the policy overruled the recovery rule, the tracker refused
      // a step) is failed, though the tracker's run was cancelled to stop it.
      state: this.#state === 'failed' || final.state === 'running' ? 'failed' : final.state,
      reason: this.#reason || final.reason,
      outputs: {},
      steps: this.steps,
      decisions: this.decisions,
      compensated: [],
      chambering,
      artifact: null,
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    };
  }

  /** A succeeded run's outputs; one that cannot be computed fails the melody. */
  async #computeOutputs(result: MelodyResult): Promise<void> {
    if (result.state !== 'succeeded') return;
    try {
      await this.artifacts.load([this.melody.outputs]);
      result.outputs = resolveValue(this.melody.outputs, this.scope) as Record<string, unknown>;
    } catch (err) {
      result.state = 'failed';
      result.reason = `the outputs could not be computed: ${(err as Error).message}`;
    }
  }

  /** Saga-style: the compensations of the steps that succeeded, newest first. */
  async #compensate(): Promise<string[]> {
    const done: string[] = [];
    for (const id of [...this.#completed].reverse()) {
      const c = Object.hasOwn(this.melody.steps, id) ? this.melody.steps[id]!.compensate : undefined;
      if (!c) continue;
      try {
        await this.artifacts.load([c.with]);
        await this.bus.request(c.call, resolveValue(c.with, this.scope), { timeout: 30_000, onBehalfOf: this.artifacts.principal });
        done.push(id);
      } catch (err) {
        this.stage.log.warn(`compensation of '${id}' (${c.call}) failed: ${(err as Error).message}`);
      }
    }
    return done;
  }

  /** Return and unloading: with the outputs stored, the Stale Manager applies its retention rules. */
  async #reclaim(chambering: Chambering): Promise<void> {
    if (!this.bus.serves('stale.run')) return;
    try {
      const r = await this.#call('stale.run', { dryRun: false });
      chambering.reclaimed = { archived: r.archived, deleted: r.deleted };
    } catch (err) {
      this.stage.log.warn(`the Stale Manager could not run after ${this.run}: ${(err as Error).message}`);
    }
  }
}

/** A BusError the budget raised: `data.final` says a new attempt cannot change it. */
function isFinal(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { final?: unknown }).final === true;
}
