/**
 * Pool Manager: pooled resources (models, workers) through Cold -> Warming -> Hot -> Cooling ->
 * Cold, or Failed, each transition with its reason. Leases up to a concurrency limit per item and
 * a capacity per pool; when full, the least recently used idle item is cooled to make room, else
 * the request waits in a FIFO queue until its timeout.
 */
export { PoolManager } from './manager.js';
export type { ItemState, Lease } from './types.js';
