import { part } from './part.mjs';

// The critical paths first (rollback and stop order, health gates, late binding): the whole
// part is 2,600 mutants, hours on a shared 2-core machine. Add files here as time allows; the
// incremental report keeps what was measured.
export default part('bootstrap', {
  mutate: ['src/bootstrap/teardown.ts', 'src/bootstrap/health.ts', 'src/bootstrap/slot.ts', 'src/bootstrap/attempt.ts'],
  vitestConfig: 'stryker/vitest.bootstrap.config.ts',
  timeoutMS: 3000,
  // One run at a time at concurrency 1: the machine's two cores are shared with the test suite.
  concurrency: 1,
});
