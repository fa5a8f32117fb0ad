/**
 * The Pit's bus methods as callers see them: per method, its params and its result, inferred from
 * the tables the services serve (each method declared once, in its service). The Conductor types
 * its calls with this, so no reply is cast by hand.
 */
import type { DagTracker } from './dag/index.js';
import type { MethodTypes } from './params.js';
import type { StaleManager } from './stale.js';

export type PitMethods = MethodTypes<DagTracker['methods']> & MethodTypes<StaleManager['methods']>;
export type PitMethod = keyof PitMethods & string;
