import { part } from './part.mjs';

// The critical paths first (fsync handling of the blobs and of the DAG checkpoint, the arbiter's
// grants and deadlines): the whole Pit is several thousand mutants, hours on a shared 2-core
// machine. Add files here as time allows; the incremental report keeps what was measured.
export default part('pit', {
  mutate: ['src/pit/artifacts/blobs.ts', 'src/pit/dag/store.ts', 'src/pit/arbiter.ts'],
  vitestConfig: 'stryker/vitest.pit.config.ts',
  timeoutMS: 5000,
});
