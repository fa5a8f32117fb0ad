/**
 * The Pit's bus methods as callers see them: per method, its params and its result, inferred from
 * the tables the services serve (each method declared once, in its service, with `serve`) over the
 * services `pitServices()` lists. The Conductor and clients type their calls with these, so no
 * reply is cast by hand:
 *
 *   const r = await bus.request<PitResult<'dag.complete'>>('dag.complete', params satisfies PitParams<'dag.complete'>);
 */
import type { pitServices } from './component.js';
import type { MethodTypes } from './params.js';

type Service = ReturnType<typeof pitServices>[number];
/** One map per service (a union over them), then merged into one. */
type PerService<S> = S extends { readonly methods: infer M } ? MethodTypes<M> : never;
type Merge<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Method name -> `{ params, result }` for every method the Pit serves. */
export type PitMethods = Merge<PerService<Service>>;
export type PitMethod = keyof PitMethods & string;
/** What a method takes (its params as sent, defaults optional). */
export type PitParams<M extends PitMethod> = PitMethods[M]['params'];
/** What a method answers (the awaited result). */
export type PitResult<M extends PitMethod> = PitMethods[M]['result'];
