/**
 * The Pit: Symphony's trusted in-process infrastructure — Pool Manager, DAG Tracker, Artifact
 * Store, Arbitration Engine, Stale Manager — and `builtin:pit`.
 */
export { pitComponent } from './component.js';
export { Pit, writeJsonAtomic } from './pit.js';
export { PitSettingsSchema, type PitSettings } from './settings/index.js';
export type { PitContext, PitEvent, PitExtension } from './extension.js';
export { PoolManager, type ItemState, type Lease } from './pool/index.js';
export { DagTracker } from './dag/index.js';
export type { Decision as DagDecision, CompleteResult as DagProgress, FailResult as DagFailure } from './dag/index.js';
export type { PitMethod, PitMethods, PitParams, PitResult } from './methods.js';
export { ArtifactStore } from './artifacts/index.js';
export { ArbitrationEngine, PRIORITY, type Decision as ArbitrationDecision, type Grant, type Strategy } from './arbiter.js';
export { StaleManager, type ArtifactCatalog, type CatalogEntry, type StaleDecision, type StaleRule } from './stale.js';
