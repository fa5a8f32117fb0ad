/**
 * Runs `fn` in a microtask of its own, as `queueMicrotask` does, without the AsyncResource that
 * Node makes for every `queueMicrotask` call (its first use alone costs milliseconds of a cold
 * boot). For kernel steps that never throw: a throw here would surface as an unhandled rejection.
 */
const RESOLVED = Promise.resolve();

export function microtask(fn: () => void): void {
  void RESOLVED.then(fn);
}
