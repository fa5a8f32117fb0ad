/**
 * Restart strategies, as in OTP's supervisor: which components a restart takes down and brings
 * back when one of them fails. One small function each; adding a strategy is adding an entry
 * here (its name is then accepted by the spec, the config schema and `kernel.restart()`).
 */
import type { KernelCore } from './core.js';
import { DependencyFailedError } from './errors.js';
import { dependentsClosure } from './graph.js';
import type { Slot } from './slot.js';

/** The members of a restart after `failed` failed, in start order (`failed` among them). */
export type Strategy = (k: KernelCore, failed: Slot) => Slot[];

export const STRATEGIES = {
  /** Only the failed component, plus its dependents that are down because it was. */
  one_for_one: (k, failed) => withDependents(k, failed).filter((s) => s === failed || (!s.running && s.error instanceof DependencyFailedError)),
  /** The failed component and everything that depends on it (started after it, and holding its instance). */
  rest_for_one: (k, failed) => withDependents(k, failed),
  /** Every component of this boot: all are stopped, in reverse order, and started again. */
  one_for_all: (k) => k.order.filter((s) => s.selected && s.state !== 'skipped'),
} satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof STRATEGIES;
/** What each takes, in a few words (the config schema's description lists them). */
export const STRATEGY_SUMMARIES: Readonly<Record<StrategyName, string>> = {
  one_for_one: 'the failed one',
  rest_for_one: 'it and its dependents',
  one_for_all: 'every component',
};
export const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[];

export function isStrategy(name: unknown): name is StrategyName {
  return typeof name === 'string' && Object.hasOwn(STRATEGIES, name);
}

/** `slot` and the components that depend on it (needs or wants, transitively) in this boot, in start order. */
export function withDependents(k: KernelCore, slot: Slot): Slot[] {
  const deps = dependentsClosure(k.order.map((s) => s.spec), slot.name);
  return k.order.filter((s) => s === slot || (deps.has(s.name) && s.selected && s.state !== 'skipped'));
}
