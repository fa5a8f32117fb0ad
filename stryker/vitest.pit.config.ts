import { partTests } from './vitest.part.js';

// The Pit's in-process tests. Left out: the strace durability test (its children run the built
// dist/, which Stryker does not mutate), the 100-kill crash test (the same, and a minute long)
// and the 200 MB stream (8 s for what the smaller round trips already check).
export default partTests(
  ['test/pit/arbiter.test.ts', 'test/pit/artifacts.test.ts', 'test/pit/dag.test.ts', 'test/pit/pool.test.ts', 'test/pit/stale.test.ts', 'test/pit/**/*.mutants.test.ts'],
  ['the writer SIGKILLed at random points', 'streams a 200 MB blob'],
);
