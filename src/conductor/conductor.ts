import type { Logger } from '../bootstrap/index.js';
import type { Bus, Registration } from '../bus/index.js';
import { Latencies } from './latency.js';
import { bindInputs, checkMelody, MELODY_SOURCE, MelodyError, type Melody, type MelodyProblem } from './melody.js';
import type { DecisionPolicy } from './policy.js';
import type { MelodyResult } from './result.js';
import { MelodyRun } from './run.js';

export type ConductorStatus = 'Stopped' | 'Starting' | 'Running' | 'Stopping' | 'Failed';

type MelodySource = NonNullable<Parameters<typeof checkMelody>[1]>;

/**
 * The Conductor: runs Melodies through the seed's Chambering flow. For each step: registration
 * (the method's provider, chosen by the policy among what the manifests and the bus offer),
 * activation (an onCall extension starts on its first call), usage (each step a node of a DAG
 * Tracker run, so progress and recovery are the Pit's), return (outputs stored in the Artifact
 * Store, temporary ones left to the Stale Manager) and state update (the run's result, every
 * decision with its rationale). One run is a MelodyRun (run.ts); this keeps what outlives runs.
 */
export class Conductor {
  status: ConductorStatus = 'Stopped';
  /** Across runs: what the policy picks a provider by. */
  readonly latency = new Latencies();
  readonly #runs = new Map<string, MelodyResult>();
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
    const source = (value as { [MELODY_SOURCE]?: MelodySource } | null)?.[MELODY_SOURCE];
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
    const result = await new MelodyRun(this, melody, inputs, options).perform();
    this.#runs.set(result.run, result);
    this.log.info(`melody '${melody.melody}' (run ${result.run}) ${result.state} in ${result.durationMs}ms${result.state === 'succeeded' ? '' : `: ${result.reason}`}`);
    return result;
  }
}
