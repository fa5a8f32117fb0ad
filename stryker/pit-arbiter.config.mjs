import { part } from './part.mjs';

// The Arbitration Engine (src/pit/arbiter.ts): its strategies and rationales, capacity, a
// request's deadline, cancelled callers, the accounting. Apart from the pit part, whose test set
// (artifacts, the DAG, the pool) every arbiter mutant would otherwise wait for: only the
// arbiter's own in-process tests run here (stryker/vitest.pit-arbiter.config.ts).
export default part('pit-arbiter', {
  mutate: ['src/pit/arbiter.ts'],
  vitestConfig: 'stryker/vitest.pit-arbiter.config.ts',
  concurrency: 1,
  timeoutMS: 3000,
});
