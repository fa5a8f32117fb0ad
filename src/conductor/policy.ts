import type { BusApi } from '../bus/index.js';

/**
 * The Conductor's decision policy: which provider serves a step, what to do about a failure, and
 * whether a step fits the budget. Pluggable: the built-in one, or a peer on the bus (the Python
 * Conductor) asked with `conductor.decide`; a peer that answers garbage, or not in time, is replaced
 * by the built-in answer, and the decision says so.
 */
export type Question =
  | { kind: 'provider'; melody: string; run: string; step: string; candidates: string[]; served: string[]; latencyMs: Record<string, number | null> }
  | { kind: 'failure'; melody: string; run: string; step: string; attempt: number; error: { code?: number; message: string }; proposed: { action: string; rationale: string } }
  | { kind: 'budget'; melody: string; run: string; step: string; cost: number; spent: number; budget: number | null };

export interface Decision {
  kind: Question['kind'];
  step: string;
  /** provider: the method; failure: accept | fail; budget: allow | refuse. */
  choice: string;
  rationale: string;
  /** Who decided: `builtin`, the peer's name, or `builtin (fallback: …)`. */
  by: string;
  at: number;
}

export interface DecisionPolicy {
  readonly name: string;
  decide(q: Question): Promise<Omit<Decision, 'at' | 'by' | 'kind' | 'step'> & { by?: string }>;
}

/** Choices a policy may make for each kind of question (anything else is garbage). */
export function allowedChoices(q: Question): string[] {
  switch (q.kind) {
    case 'provider':
      return q.candidates;
    case 'failure':
      return ['accept', 'fail'];
    case 'budget':
      return ['allow', 'refuse'];
  }
}

/**
 * The built-in policy: the served provider with the lowest observed latency (untried ones first, in
 * the melody's order); the DAG Tracker's recovery decision as it is; a step allowed while the budget
 * holds.
 */
export const builtinPolicy: DecisionPolicy = {
  name: 'builtin',
  async decide(q) {
    switch (q.kind) {
      case 'provider': {
        const served = q.candidates.filter((c) => q.served.includes(c));
        if (!served.length) return { choice: q.candidates[0]!, rationale: `no candidate is served now; trying '${q.candidates[0]}' (it fails at once if nobody serves it)` };
        const untried = served.find((c) => q.latencyMs[c] === null || q.latencyMs[c] === undefined);
        if (untried) return { choice: untried, rationale: served.length > 1 ? `'${untried}' has not been tried yet` : `'${untried}' is the only provider served` };
        const best = served.reduce((a, b) => (q.latencyMs[b]! < q.latencyMs[a]! ? b : a));
        return { choice: best, rationale: served.length > 1 ? `'${best}' has the lowest observed latency (${q.latencyMs[best]!.toFixed(2)}ms)` : `'${best}' is the only provider served` };
      }
      case 'failure':
        return { choice: 'accept', rationale: `following the recovery rule: ${q.proposed.rationale}` };
      case 'budget':
        if (q.budget === null) return { choice: 'allow', rationale: 'no budget set' };
        return q.spent + q.cost <= q.budget
          ? { choice: 'allow', rationale: `cost ${q.cost} fits: ${q.spent} of ${q.budget} spent` }
          : { choice: 'refuse', rationale: `cost ${q.cost} would exceed the budget: ${q.spent} of ${q.budget} spent` };
    }
  },
};

/** A policy served on the bus (`conductor.decide` by default), with the built-in one as the safety net. */
export function remotePolicy(bus: BusApi, method = 'conductor.decide', timeoutMs = 1000): DecisionPolicy {
  return {
    name: `remote (${method})`,
    async decide(q) {
      let answer: unknown;
      try {
        answer = await bus.request(method, q, { timeout: timeoutMs });
      } catch (err) {
        const fallback = await builtinPolicy.decide(q);
        return { ...fallback, by: `builtin (fallback: ${method} failed: ${(err as Error).message})` };
      }
      const a = answer as { choice?: unknown; rationale?: unknown; by?: unknown } | null;
      if (!a || typeof a !== 'object' || typeof a.choice !== 'string' || !allowedChoices(q).includes(a.choice) || typeof a.rationale !== 'string') {
        const fallback = await builtinPolicy.decide(q);
        return { ...fallback, by: `builtin (fallback: ${method} answered ${JSON.stringify(answer)?.slice(0, 120)}, not a valid ${q.kind} decision)` };
      }
      return { choice: a.choice, rationale: a.rationale, by: typeof a.by === 'string' ? a.by : method };
    },
  };
}
