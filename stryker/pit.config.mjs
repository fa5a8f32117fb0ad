import { part } from './part.mjs';

// The critical paths first: the blobs' fsyncs (artifacts/blobs.ts) and the DAG's checkpoints
// (the queue and its commit, dag/checkpoint.ts; the SQLite file and its pragmas, dag/store.ts).
// The arbiter is a part of its own (pit-arbiter.config.mjs), with only its own tests. The whole
// Pit is several thousand mutants, hours on a shared 2-core machine; add files here as time
// allows (the incremental report keeps what was measured).
export default part('pit', {
  mutate: ['src/pit/artifacts/blobs.ts', 'src/pit/dag/checkpoint.ts', 'src/pit/dag/store.ts'],
  vitestConfig: 'stryker/vitest.pit.config.ts',
  timeoutMS: 5000,
});
