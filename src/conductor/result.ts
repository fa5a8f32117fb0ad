import type { Logger } from '../bootstrap/index.js';
import type { Bus } from '../bus/index.js';
import { request } from './methods.js';
import type { Decision } from './policy.js';

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
  chambering: Chambering;
}

export interface Chambering {
  registration: { method: string; provider: string }[];
  /** With `error` when the activation failed: the steps calling it then fail (per their recovery) when they run. */
  activated: { extension: string; ms: number; error?: string }[];
  reclaimed: { archived: number; deleted: number } | null;
}

/**
 * The whole result, kept as `melody.<name>.<run>` in the Artifact Store when there is one. Stored
 * under the Conductor's own identity (the result is the Conductor's record, not a step's output).
 */
export async function storeResult(bus: Bus, result: MelodyResult, log: Logger): Promise<MelodyResult['artifact']> {
  if (!bus.serves('artifacts.put')) return null;
  try {
    const r = await request(bus, 'artifacts.put', {
      name: `melody.${result.melody}.${result.run}`,
      data: JSON.stringify({ ...result, artifact: undefined }),
      metadata: { melody: result.melody, run: result.run, state: result.state, contentType: 'application/json' },
      tags: ['melody-result', `state:${result.state}`],
    });
    return { name: r.name, version: r.version, hash: r.hash };
  } catch (err) {
    log.warn(`storing the result of run ${result.run} failed: ${(err as Error).message}`);
    return null;
  }
}
