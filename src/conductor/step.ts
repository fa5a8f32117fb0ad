import { BusError, ErrorCode, type Bus } from '../bus/index.js';
import { parseDuration } from '../util/duration.js';
import { parseExpression, resolveValue } from './expressions.js';
import type { Latencies } from './latency.js';
import { mapLimit } from './map-limit.js';
import type { Melody, MelodyStep } from './melody.js';
import type { Decision, Question } from './policy.js';
import type { RunArtifacts } from './run-artifacts.js';

const FOREACH_CONCURRENCY = 8;

/** What `${…}` reads in a run: its inputs, the steps done so far, the melody, the artifacts loaded. */
export type RunScope = {
  inputs: Record<string, unknown>;
  steps: Record<string, { output: unknown; state: string }>;
  melody: { name: string; run?: string };
  artifacts: Record<string, unknown>;
};

/** What a step needs of its run. */
export interface StepHost {
  readonly bus: Bus;
  readonly melody: Melody;
  /** The DAG Tracker's run. */
  readonly run: string;
  readonly scope: RunScope;
  readonly artifacts: RunArtifacts;
  readonly latency: Latencies;
  readonly signal: AbortSignal | undefined;
  /** The cost the run's steps have spent so far (against the melody's budget). */
  readonly spent: number;
  spend(cost: number): void;
  /** Asks the policy, recording the decision in the run's result. */
  decide(q: Question): Promise<Decision>;
}

/** How one attempt of a step ended when it did not throw. */
export interface StepOutcome {
  output: unknown;
  note?: string;
  /** `when` was false: it did not run. */
  skipped?: boolean;
  /** The method that served it. */
  provider?: string;
}

/** One attempt of a step (or of its fallback): condition, budget, provider, then the call or the fan-out, then `store`. */
export async function performStep(host: StepHost, id: string, step: MelodyStep, isFallback: boolean): Promise<StepOutcome> {
  const { melody, run, scope } = host;
  await host.artifacts.load([step.with, step.when, step.foreach, step.fallback?.with]);
  if (step.when !== undefined && !isFallback) {
    const ok = parseExpression(step.when.trim().slice(2, -1)).evaluate(scope);
    if (!ok) return { output: null, note: `skipped: ${step.when} is false`, skipped: true };
  }
  const budget = await host.decide({ kind: 'budget', melody: melody.melody, run, step: id, cost: step.cost, spent: host.spent, budget: melody.budget ?? null });
  if (budget.choice === 'refuse') throw new BusError(ErrorCode.Overloaded, `step '${id}' refused: ${budget.rationale}`, { final: true });
  host.spend(step.cost);
  const { method, params } = isFallback ? { method: step.fallback!.call, params: step.fallback!.with } : { method: await chooseProvider(host, id, step), params: step.with };
  const timeout = step.timeout === undefined ? 30_000 : parseDuration(step.timeout)!;
  const call = async (p: unknown) => {
    const t = performance.now();
    const out = await host.bus.request(method, p, { timeout, signal: host.signal, onBehalfOf: host.artifacts.principal });
    host.latency.record(method, performance.now() - t);
    return out;
  };
  let output: unknown;
  if (step.foreach !== undefined) {
    const items = parseExpression(step.foreach.trim().slice(2, -1)).evaluate(scope);
    if (!Array.isArray(items)) throw new BusError(ErrorCode.InvalidParams, `step '${id}': foreach ${step.foreach} is not a list (${typeof items})`);
    output = await mapLimit(items, FOREACH_CONCURRENCY, (item) => call(resolveValue(params, { ...scope, item })));
  } else {
    output = await call(resolveValue(params, scope));
  }
  if (step.store && host.bus.serves('artifacts.put')) await host.artifacts.store(step.store, output, { melody: melody.melody, run, step: id, contentType: 'application/json' });
  return { output, note: isFallback ? `ran its fallback '${method}'` : undefined, provider: method };
}

/** The method a step calls: its one call, or the policy's pick among its alternatives. */
async function chooseProvider(host: StepHost, id: string, step: MelodyStep): Promise<string> {
  const candidates = typeof step.call === 'string' ? [step.call] : step.call;
  if (candidates.length === 1) return candidates[0]!;
  const latencyMs: Record<string, number | null> = {};
  for (const c of candidates) latencyMs[c] = host.latency.mean(c);
  const d = await host.decide({ kind: 'provider', melody: host.melody.melody, run: host.run, step: id, candidates, served: candidates.filter((c) => host.bus.serves(c)), latencyMs });
  return d.choice;
}
