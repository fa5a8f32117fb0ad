import type { AnyComponentDefinition } from '../../src/index.js';
export interface FaultRates {
  transient: number;
  slow: number;
  flap: number;
}
export { mulberry32 as rng } from '../random.mjs';
export declare class FaultInjector {
  constructor(random: () => number, rates: FaultRates, attempts: number, slowFraction?: number);
  readonly counts: { transient: number; slow: number; flap: number };
  wrap(name: string, def: AnyComponentDefinition): AnyComponentDefinition;
}
