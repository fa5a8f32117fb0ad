import type { Logger } from '../bootstrap/index.js';
import { BusError, ErrorCode, MethodNotFoundError, type Bus, type Registration } from '../bus/index.js';
import type { DagProgress, PitMethod, PitMethods } from '../pit/index.js';
import { parseDuration } from '../util/duration.js';
import { expressionsIn, parseExpression, resolveValue } from './expressions.js';
import { bindInputs, checkMelody, MELODY_SOURCE, MelodyError, type Melody, type MelodyProblem, type MelodyStep } from './melody.js';
import { builtinPolicy, type Decision, type DecisionPolicy, type Question } from './policy.js';

export type ConductorStatus = 'Stopped' | 'Starting' | 'Running' | 'Stopping' | 'Failed';

export interface StepResult {
  state: string;
  attempts: number;
  provider: string | null;
  output?: unknown;
  error?: string;
  /** Why it ended this way when it did not simply succeed (skipped by `when`, fallback, …). */
  note?: string;
}

export interface MelodyResult {
  melody: string;
  run: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  reason: string;
  outputs: Record<string, unknown>;
  steps: Record<string, StepResult>;
  decisions: Decision[];
  /** Compensations run because the melody failed, in the order they ran. */
  compensated: string[];
  /** The artifact holding the result, when the Artifact Store is there. */
  artifact: { name: string; version: number; hash: string } | null;
  durationMs: number;
  /**
   * The Chambering flow around the run: which extension provides each method (from the manifests),
   * which were activated for it (and how long that took), and what the Stale Manager reclaimed
   * after the outputs were stored.
   */
  chambering: {
    registration: { method: string; provider: string }[];
    /** With `error` when the activation failed: the steps calling it then fail (per their recovery) when they run. */
    activated: { extension: string; ms: number; error?: string }[];
    reclaimed: { archived: number; deleted: number } | null;
  };
}

type Progress = DagProgress;

const FALLBACK = '~fallback';
const FOREACH_CONCURRENCY = 8;

/**
 * The Conductor: runs Melodies through the seed's Chambering flow. For each step: registration
 * (the method's provider, chosen by the policy among what the manifests and the bus offer),
 * activation (an onCall extension starts on its first call), usage (each step a node of a DAG
 * Tracker run, so progress and recovery are the Pit's), return (outputs stored in the Artifact
 * Store, temporary ones left to the Stale Manager) and state update (the run's result, every
 * decision with its rationale).
 */
export class Conductor {
  status: ConductorStatus = 'Stopped';
  readonly #latency = new Map<string, { total: number; n: number }>();
  readonly #runs = new Map<string, MelodyResult>();
  /** Per run (its scope's artifacts): the artifact names known not to exist. */
  readonly #absentArtifacts = new WeakMap<object, Set<string>>();
  /** Who asked for each run (its scope): the identity whose rights its calls carry. */
  readonly #principals = new WeakMap<object, string>();
  readonly events: unknown[] = [];
  /** The bus methods it serves, undone at stop. */
  readonly registrations: Registration[] = [];
  #reports = 0;

  constructor(
    readonly bus: Bus,
    public policy: DecisionPolicy,
    readonly log: Logger,
  ) {}

  /** Events the Pit reported (the late edge): kept, bounded, for status and the policy. */
  report(events: unknown[]): { received: number } {
    this.#reports += events.length;
    this.events.push(...events);
    if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
    return { received: events.length };
  }

  stats(): { status: ConductorStatus; policy: string; runs: number; reported: number } {
    return { status: this.status, policy: this.policy.name, runs: this.#runs.size, reported: this.#reports };
  }

  result(run: string): MelodyResult | undefined {
    return this.#runs.get(run);
  }

  /**
   * Everything that can be checked before a melody runs: its shape and graph (checkMelody), its
   * inputs, and that every method it calls is served (or reserved for activation on first call).
   */
  validate(value: unknown, inputs: Record<string, unknown> = {}): { melody: Melody; inputs: Record<string, unknown> } {
    const source = (value as { [MELODY_SOURCE]?: { file: string; locate: NonNullable<Parameters<typeof checkMelody>[1]>['locate'] } } | null)?.[MELODY_SOURCE];
    const melody = checkMelody(value, source ?? {});
    const bound = bindInputs(melody, inputs, source ?? {});
    const problems: MelodyProblem[] = [];
    const at = (path: (string | number)[]) => ({ file: source?.file, ...(source?.locate?.(path, 'value') ?? { line: 1, col: 1 }) });
    for (const [id, step] of Object.entries(melody.steps)) {
      const calls = typeof step.call === 'string' ? [step.call] : step.call;
      if (!calls.some((c) => this.bus.serves(c))) problems.push({ ...at(['steps', id, 'call']), message: `step '${id}' calls ${calls.map((c) => `'${c}'`).join(' or ')}, which nobody serves (unknown method)` });
      for (const [field, extra] of [['fallback', step.fallback], ['compensate', step.compensate]] as const) {
        if (extra && !this.bus.serves(extra.call)) problems.push({ ...at(['steps', id, field, 'call']), message: `step '${id}' names '${extra.call}' (${field}), which nobody serves (unknown method)` });
      }
    }
    if (problems.length) throw new MelodyError(problems);
    return { melody, inputs: bound };
  }

  /**
   * Runs a melody to its end; resolves with the result (a failed melody is a result, not an exception).
   * `principal` is who asked (a handler's ctx.peer): every step, compensation and artifact the run
   * reads or stores is called with that identity's rights, never the Conductor's own.
   */
  async run(value: unknown, givenInputs: Record<string, unknown> = {}, options: { signal?: AbortSignal; principal?: string } = {}): Promise<MelodyResult> {
    const { melody, inputs } = this.validate(value, givenInputs);
    const chambering = await this.#register(melody);
    const t0 = performance.now();
    const decisions: Decision[] = [];
    // Null-prototype records: step names are the melody's (`constructor`, `__proto__` are plain keys).
    const steps: Record<string, StepResult> = Object.create(null);
    for (const id of Object.keys(melody.steps)) steps[id] = { state: 'pending', attempts: 0, provider: null };
    const scope: Record<string, unknown> = { inputs, steps: Object.create(null) as Record<string, { output: unknown }>, melody: { name: melody.melody }, artifacts: Object.create(null) };
    const stepScope = scope.steps as Record<string, { output: unknown; state: string }>;
    if (options.principal !== undefined) this.#principals.set(scope, options.principal);
    let spent = 0;

    const created = await this.#pit('dag.create', { workflow: toWorkflow(melody) });
    const run = created.run;
    (scope.melody as Record<string, unknown>).run = run;
    this.log.info(`melody '${melody.melody}' started as run ${run}`);
    const decide = async (q: Question): Promise<Decision> => {
      const answer = await this.policy.decide(q);
      const d: Decision = { kind: q.kind, step: q.step, choice: answer.choice, rationale: answer.rationale, by: answer.by ?? this.policy.name, at: Date.now() };
      decisions.push(d);
      if (d.by.startsWith('builtin (fallback')) this.log.warn(`decision for '${q.step}' (${q.kind}): ${d.by}`);
      return d;
    };

    const completed: string[] = [];
    let state: Progress['state'] = 'running';
    let reason = '';
    const inflight = new Set<string>();
    const timers = new Set<NodeJS.Timeout>();

    await new Promise<void>((finish) => {
      const settleIfDone = () => {
        if (state !== 'running' && inflight.size === 0) {
          for (const t of timers) clearTimeout(t);
          finish();
        }
      };
      const onProgress = (p: Progress) => {
        if (p.state !== 'running' && state === 'running') state = p.state;
        launchAll(p.released);
        settleIfDone();
      };
      const launchAll = (ids: string[]) => {
        for (const id of ids) if (!inflight.has(id) && state === 'running') void launch(id);
      };
      const refresh = async () => {
        const r = await this.#pit('dag.ready', { run });
        launchAll(r.ready);
      };
      options.signal?.addEventListener('abort', () => {
        reason = 'cancelled';
        void this.#pit('dag.cancel', { run, reason: 'the melody was cancelled' }).then(() => {
          state = 'cancelled';
          settleIfDone();
        });
      });

      const launch = async (node: string) => {
        inflight.add(node);
        const isFallback = node.endsWith(FALLBACK);
        const id = isFallback ? node.slice(0, -FALLBACK.length) : node;
        const step = melody.steps[id]!;
        try {
          const { attempt } = await this.#pit('dag.start', { run, node });
          steps[id]!.attempts++;
          steps[id]!.state = 'running';
          let output: unknown;
          let note: string | undefined;
          let skipped = false;
          let provider: string | undefined;
          try {
            ({ output, note, skipped = false, provider } = await this.#execute(melody, id, step, isFallback, scope, run, attempt, decide, () => spent, (c) => (spent += c), options.signal));
          } catch (err) {
            const e = err instanceof Error ? err : new Error(String(err));
            const code = err instanceof BusError ? err.code : undefined;
            // A refusal by the budget cannot change on a new attempt: not retried (its onFailure applies).
            const final = err instanceof BusError && (err.data as { final?: boolean } | undefined)?.final === true;
            const r = await this.#pit('dag.fail', { run, node, error: e.message, final });
            const verdict = await decide({ kind: 'failure', melody: melody.melody, run, step: id, attempt, error: { code, message: e.message }, proposed: { action: r.decision.action, rationale: r.decision.rationale } });
            steps[id]!.error = e.message;
            if (verdict.choice === 'fail' && r.decision.action !== 'fail' && r.state === 'running') {
              // The policy overrules the recovery rule: the step fails and the run stops here (the
              // tracker's run is cancelled, the melody is failed).
              steps[id]!.state = 'failed';
              steps[id]!.note = `the policy failed it: ${verdict.rationale}`;
              if (state === 'running') {
                state = 'failed';
                reason = `step '${id}' failed and the policy stopped the melody: ${verdict.rationale}`;
              }
              await this.#pit('dag.cancel', { run, reason: `the policy failed '${id}': ${verdict.rationale}` });
            } else if (r.decision.action === 'retry') {
              steps[id]!.state = 'retrying';
              const t = setTimeout(() => {
                timers.delete(t);
                void refresh();
              }, r.decision.delayMs + 1);
              timers.add(t);
            } else {
              steps[id]!.state = r.decision.action === 'fallback' ? 'failed (fallback)' : r.decision.action === 'skip' ? 'skipped' : 'failed';
              steps[id]!.note = r.decision.rationale;
              if (r.decision.action === 'fail' && r.decision.runFailed) reason = r.decision.rationale;
              if (r.decision.action === 'skip' || r.decision.action === 'fail') for (const s of r.decision.skipped ?? []) if (Object.hasOwn(steps, s) && steps[s]!.state === 'pending') steps[s]!.state = 'skipped';
            }
            inflight.delete(node);
            onProgress(r);
            return;
          }
          // A step skipped by `when` did not run: its output is null, and it has nothing to compensate.
          stepScope[id] = { output, state: skipped ? 'skipped' : 'succeeded' };
          steps[id]!.state = skipped ? 'skipped' : isFallback ? 'succeeded (fallback)' : 'succeeded';
          steps[id]!.output = output;
          if (provider) steps[id]!.provider = provider; // the method that served it (the policy's pick among alternatives, or the fallback)
          if (note) steps[id]!.note = note;
          if (!skipped) completed.push(id);
          const r = await this.#pit('dag.complete', { run, node, output: output === undefined ? null : output });
          inflight.delete(node);
          onProgress(r);
        } catch (err) {
          // The tracker refused (cancelled run, a bug): stop this melody cleanly rather than hang.
          inflight.delete(node);
          if (state === 'running') {
            state = 'failed';
            reason = `the DAG Tracker refused '${node}': ${(err as Error).message}`;
          }
          settleIfDone();
        }
      };
      launchAll(created.ready);
      settleIfDone();
    });

    const final = await this.#pit('dag.status', { run });
    for (const [node, s] of Object.entries(final.nodes)) {
      if (!node.endsWith(FALLBACK) && Object.hasOwn(steps, node) && (steps[node]!.state === 'pending' || steps[node]!.state === 'retrying')) steps[node]!.state = s.state;
    }
    const result: MelodyResult = {
      melody: melody.melody,
      run,
      // A run this side stopped as failed (the policy overruled the recovery rule, the tracker refused
      // a step) is failed, though the tracker's run was cancelled to stop it.
      state: (state as Progress['state']) === 'failed' || final.state === 'running' ? 'failed' : final.state,
      reason: reason || final.reason,
      outputs: {},
      steps,
      decisions,
      compensated: [],
      chambering,
      artifact: null,
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    };
    if (result.state === 'succeeded') {
      try {
        await this.#loadArtifacts([melody.outputs], scope);
        result.outputs = resolveValue(melody.outputs, scope) as Record<string, unknown>;
      } catch (err) {
        result.state = 'failed';
        result.reason = `the outputs could not be computed: ${(err as Error).message}`;
      }
    }
    // A failed melody (its steps, or its outputs) is compensated.
    if (result.state !== 'succeeded') result.compensated = await this.#compensate(melody, completed, scope);
    result.artifact = await this.#storeResult(result);
    // Return and unloading: with the outputs stored, the Stale Manager applies its retention rules.
    if (this.bus.serves('stale.run')) {
      try {
        const r = await this.#pit('stale.run', { dryRun: false });
        chambering.reclaimed = { archived: r.archived, deleted: r.deleted };
      } catch (err) {
        this.log.warn(`the Stale Manager could not run after ${run}: ${(err as Error).message}`);
      }
    }
    this.#runs.set(run, result);
    this.log.info(`melody '${melody.melody}' (run ${run}) ${result.state} in ${result.durationMs}ms${result.state === 'succeeded' ? '' : `: ${result.reason}`}`);
    return result;
  }

  /**
   * Registration and activation: the providers of every method the melody calls, from the
   * extensions' manifests (the Orchestra), and the start of those not running yet (activation on
   * call), before the first step.
   */
  /** A call to one of the Pit's methods, typed by its declaration there (params and result). */
  #pit<M extends PitMethod>(method: M, params: PitMethods[M]['params']): Promise<PitMethods[M]['result']> {
    return this.bus.request<PitMethods[M]['result']>(method, params);
  }

  async #register(melody: Melody): Promise<MelodyResult['chambering']> {
    const chambering: MelodyResult['chambering'] = { registration: [], activated: [], reclaimed: null };
    const methods = new Set<string>();
    for (const step of Object.values(melody.steps)) {
      for (const m of typeof step.call === 'string' ? [step.call] : step.call) methods.add(m);
      if (step.fallback) methods.add(step.fallback.call);
      if (step.compensate) methods.add(step.compensate.call);
    }
    if (!this.bus.serves('orchestra.providers')) return chambering;
    let providers: Record<string, { extension: string; version: string; execution: string; state: string } | null>;
    try {
      providers = (await this.bus.request('orchestra.providers', { methods: [...methods] })) as typeof providers;
    } catch (err) {
      // On a node of a cluster every method seems served (the cluster may have it): nobody did.
      if (err instanceof BusError && err.code === ErrorCode.MethodNotFound) return chambering;
      throw err;
    }
    const inactive = new Set<string>();
    for (const [method, p] of Object.entries(providers)) {
      chambering.registration.push({ method, provider: p ? `${p.extension}@${p.version} (${p.execution})` : 'a component (not an extension)' });
      if (p && p.state === 'inactive') inactive.add(p.extension);
    }
    await Promise.all(
      [...inactive].map(async (extension) => {
        const t = performance.now();
        const ms = () => Math.round((performance.now() - t) * 1000) / 1000;
        try {
          await this.bus.request('orchestra.activate', { extension }, { timeout: 60_000 });
          chambering.activated.push({ extension, ms: ms() });
        } catch (err) {
          // Not the run's end: a step calling it fails when it runs, and its retry, onFailure or
          // optional say what that means.
          chambering.activated.push({ extension, ms: ms(), error: (err as Error).message });
          this.log.warn(`activating '${extension}' failed: ${(err as Error).message}`);
        }
      }),
    );
    return chambering;
  }

  /** One step (or its fallback): condition, provider, budget, then the call or the fan-out. */
  async #execute(
    melody: Melody,
    id: string,
    step: MelodyStep,
    isFallback: boolean,
    scope: Record<string, unknown>,
    run: string,
    attempt: number,
    decide: (q: Question) => Promise<Decision>,
    spent: () => number,
    spend: (cost: number) => void,
    signal: AbortSignal | undefined,
  ): Promise<{ output: unknown; note?: string; skipped?: boolean; provider?: string }> {
    await this.#loadArtifacts([step.with, step.when, step.foreach, step.fallback?.with], scope);
    if (step.when !== undefined && !isFallback) {
      const ok = parseExpression(step.when.trim().slice(2, -1)).evaluate(scope);
      if (!ok) return { output: null, note: `skipped: ${step.when} is false`, skipped: true };
    }
    const budget = await decide({ kind: 'budget', melody: melody.melody, run, step: id, cost: step.cost, spent: spent(), budget: melody.budget ?? null });
    if (budget.choice === 'refuse') throw new BusError(ErrorCode.Overloaded, `step '${id}' refused: ${budget.rationale}`, { final: true });
    spend(step.cost);
    let method: string;
    let params: unknown;
    if (isFallback) {
      method = step.fallback!.call;
      params = step.fallback!.with;
    } else {
      const candidates = typeof step.call === 'string' ? [step.call] : step.call;
      if (candidates.length === 1) {
        method = candidates[0]!;
      } else {
        const latencyMs: Record<string, number | null> = {};
        for (const c of candidates) {
          const l = this.#latency.get(c);
          latencyMs[c] = l ? l.total / l.n : null;
        }
        const d = await decide({ kind: 'provider', melody: melody.melody, run, step: id, candidates, served: candidates.filter((c) => this.bus.serves(c)), latencyMs });
        method = d.choice;
      }
      params = step.with;
    }
    const timeout = step.timeout === undefined ? 30_000 : parseDuration(step.timeout)!;
    const call = async (p: unknown) => {
      const t = performance.now();
      const out = await this.bus.request(method, p, { timeout, signal, onBehalfOf: this.#principals.get(scope) });
      const l = this.#latency.get(method) ?? { total: 0, n: 0 };
      l.total += performance.now() - t;
      l.n++;
      this.#latency.set(method, l);
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
    if (step.store && this.bus.serves('artifacts.put')) {
      this.#forgetArtifact(scope, step.store);
      await this.bus.request('artifacts.put', { name: step.store, data: JSON.stringify(output), metadata: { melody: melody.melody, run, step: id, contentType: 'application/json' }, tags: ['melody-output'] }, { onBehalfOf: this.#principals.get(scope) });
    }
    return { output, note: isFallback ? `ran its fallback '${method}'` : undefined, provider: method };
  }

  /**
   * `${artifacts.<name>…}`: the latest version of each artifact the given settings read, parsed as
   * JSON when it is, kept in the scope for the rest of the run (until a step stores a new version).
   * A name may contain dots (`melody.x.run`): of `artifacts.a.b.c`, the longest prefix that names an
   * existing artifact is the name (`a.b` if it exists, else `a`), the rest a path into its content;
   * `artifacts["a.b"].c` says it outright.
   */
  async #loadArtifacts(values: unknown[], scope: Record<string, unknown>): Promise<void> {
    const store = scope.artifacts as Record<string, unknown>;
    let absent = this.#absentArtifacts.get(store);
    if (!absent) this.#absentArtifacts.set(store, (absent = new Set()));
    for (const e of expressionsIn(values)) {
      for (const ref of e.refs) {
        if (ref[0] !== 'artifacts' || ref.length < 2) continue;
        const candidates = ref.slice(1).map((_, i) => ref.slice(1, ref.length - i).join('.'));
        let found = false;
        for (const name of candidates) {
          if (Object.hasOwn(store, name)) {
            found = true;
            break;
          }
          if (absent.has(name)) continue;
          const content = await this.#readArtifact(name, this.#principals.get(scope));
          if (content === undefined) {
            absent.add(name);
            continue;
          }
          try {
            store[name] = JSON.parse(content);
          } catch {
            store[name] = content;
          }
          found = true;
          break;
        }
        if (!found) throw new BusError(ErrorCode.InvalidParams, `\${${e.source}}: no artifact named ${candidates.map((c) => `'${c}'`).join(' or ')}`, { reason: 'not-found', name: ref[1] });
      }
    }
  }

  /** An artifact's latest version as text; undefined when there is no such artifact. */
  async #readArtifact(name: string, principal: string | undefined): Promise<string | undefined> {
    if (!this.bus.serves('artifacts.read')) throw new MethodNotFoundError('artifacts.read');
    const chunks: Buffer[] = [];
    for (let offset = 0; ; ) {
      let chunk: { dataBase64: string; eof: boolean };
      try {
        chunk = (await this.bus.request('artifacts.read', { name, offset, length: 512 * 1024 }, { onBehalfOf: principal })) as typeof chunk;
      } catch (err) {
        if (offset === 0 && err instanceof BusError && (err.data as { reason?: unknown } | undefined)?.reason === 'not-found') return undefined;
        throw err;
      }
      const bytes = Buffer.from(chunk.dataBase64, 'base64');
      chunks.push(bytes);
      offset += bytes.length;
      if (chunk.eof || bytes.length === 0) break;
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A step stored a new version of `name`: what the run read of it before is stale. */
  #forgetArtifact(scope: Record<string, unknown>, name: string): void {
    delete (scope.artifacts as Record<string, unknown>)[name];
    this.#absentArtifacts.get(scope.artifacts as object)?.delete(name);
  }

  /** Saga-style: the compensations of the steps that succeeded, newest first. */
  async #compensate(melody: Melody, completed: string[], scope: Record<string, unknown>): Promise<string[]> {
    const done: string[] = [];
    for (const id of [...completed].reverse()) {
      const c = Object.hasOwn(melody.steps, id) ? melody.steps[id]!.compensate : undefined;
      if (!c) continue;
      try {
        await this.#loadArtifacts([c.with], scope);
        await this.bus.request(c.call, resolveValue(c.with, scope), { timeout: 30_000, onBehalfOf: this.#principals.get(scope) });
        done.push(id);
      } catch (err) {
        this.log.warn(`compensation of '${id}' (${c.call}) failed: ${(err as Error).message}`);
      }
    }
    return done;
  }

  async #storeResult(result: MelodyResult): Promise<MelodyResult['artifact']> {
    if (!this.bus.serves('artifacts.put')) return null;
    try {
      const r = (await this.bus.request('artifacts.put', {
        name: `melody.${result.melody}.${result.run}`,
        data: JSON.stringify({ ...result, artifact: undefined }),
        metadata: { melody: result.melody, run: result.run, state: result.state, contentType: 'application/json' },
        tags: ['melody-result', `state:${result.state}`],
      })) as { name: string; version: number; hash: string };
      return { name: r.name, version: r.version, hash: r.hash };
    } catch (err) {
      this.log.warn(`storing the result of run ${result.run} failed: ${(err as Error).message}`);
      return null;
    }
  }
}

/** Steps as DAG Tracker nodes: needs/after as they are; retry, skip and fallback as recovery; a fallback call as its own held-back node. */
function toWorkflow(melody: Melody): { id: string; nodes: unknown[] } {
  const nodes: unknown[] = [];
  for (const [id, step] of Object.entries(melody.steps)) {
    const then = step.onFailure === 'fallback' ? 'fallback' : step.onFailure;
    const recovery: Record<string, unknown> = step.retry
      ? { strategy: 'retry', retries: step.retry.max, backoff: step.retry.backoff, delayMs: parseDuration(step.retry.delay), maxDelayMs: parseDuration(step.retry.maxDelay), then }
      : { strategy: step.onFailure };
    if (step.onFailure === 'fallback') recovery.fallback = `${id}${FALLBACK}`;
    nodes.push({ id, needs: step.needs, after: step.after, optional: step.optional, recovery, data: { step: id } });
    if (step.onFailure === 'fallback') nodes.push({ id: `${id}${FALLBACK}`, needs: step.needs, after: step.after, optional: step.optional, data: { step: id, fallback: true } });
  }
  return { id: melody.melody, nodes };
}

/**
 * `fn` over the items, at most `limit` at a time, results in order. At the first rejection no more
 * items are handed out, and it rejects (with that first error) once the calls in flight have ended:
 * a failed fan-out leaves nothing running behind it (a retry would overlap it otherwise).
 */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failure && next < items.length) {
        const i = next++;
        try {
          out[i] = await fn(items[i]!);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure) throw failure.error;
  return out;
}
