import { partTests } from './vitest.part.js';

// The tests that reach the call table and the deadline wheel through the Bus's public API, in the
// test's own process: requests with timeouts, cancellation, late answers, deputies, budgets. The
// socket suites (wire, transport, hardening) reach them too, but every mutant would pay for their
// connections; the spawning suites run the built dist/, which Stryker does not mutate.
export default partTests(
  [
    'test/bus/core.test.ts',
    'test/bus/unclocked-deadline.test.ts',
    'test/bus/dispose.test.ts',
    'test/bus/hold.test.ts',
    'test/bus/calls.mutants.test.ts',
    'test/bus/deadlines.mutants.test.ts',
    'test/bus/deadline-wheel.mutants.test.ts',
  ],
  ['is killed, so its exit tells its supervisor', 'is named with the reason (ENOENT)'],
);
