import { part } from './part.mjs';

// The bus's call table and deadline wheel: admitting a call (rights, a route, a deputy's
// principal, the callee's circuit), starting it, its deadline, its cancellation, a late answer,
// the memory budget of a peer's requests. Their tests are in-process (stryker/vitest.bus-calls.config.ts),
// so this part runs in minutes, apart from the bus part and its socket suites. Concurrency 1:
// the machine is shared, and these tests time deadlines.
export default part('bus-calls', {
  mutate: ['src/bus/calls.ts', 'src/bus/deadlines.ts'],
  vitestConfig: 'stryker/vitest.bus-calls.config.ts',
  concurrency: 1,
  timeoutMS: 5000,
});
