/**
 * The container: typed keys, lifetimes, async factories, disposal in reverse dependency order.
 * Knows nothing of components or boot stages; the bootstrap manager builds on it.
 */
export { token, type AnyToken, type Token, type TokenValue, type TokenValues } from './token.js';
export {
  Container,
  ContainerError,
  MissingProviderError,
  CircularDependencyError,
  LifetimeError,
  type Lifetime,
  type Provider,
} from './container.js';
export { teardownInReverse, BrutalKillError, StopError, StopTimeoutError, type TeardownPlan } from './teardown.js';
/** The indexed form the bootstrap manager stops a booted graph with (no per-node objects). */
export { teardownIndexed, type StopSignals } from './teardown.js';
