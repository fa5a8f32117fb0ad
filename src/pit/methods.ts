/**
 * The Pit's bus methods as callers see them: per method, its params and its result, inferred from
 * the tables the services serve (each method declared once, in its service, with `serve`). The
 * Conductor and clients type their calls with these, so no reply is cast by hand:
 *
 *   const r = await bus.request<PitResult<'dag.complete'>>('dag.complete', params satisfies PitParams<'dag.complete'>);
 */
import type { ArbitrationEngine } from './arbiter.js';
import type { ArtifactStore } from './artifacts/index.js';
import type { DagTracker } from './dag/index.js';
import type { MethodTypes } from './params.js';
import type { PoolManager } from './pool/index.js';
import type { StaleManager } from './stale.js';

/** Method name -> `{ params, result }` for every method the Pit serves. */
export type PitMethods = MethodTypes<PoolManager['methods']> &
  MethodTypes<DagTracker['methods']> &
  MethodTypes<ArtifactStore['methods']> &
  MethodTypes<ArbitrationEngine['methods']> &
  MethodTypes<StaleManager['methods']>;
export type PitMethod = keyof PitMethods & string;
/** What a method takes (its params as sent, defaults optional). */
export type PitParams<M extends PitMethod> = PitMethods[M]['params'];
/** What a method answers (the awaited result). */
export type PitResult<M extends PitMethod> = PitMethods[M]['result'];
