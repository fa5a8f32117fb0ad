import { part } from './part.mjs';

// The Orchestra's rights and manifest code: what an extension is granted (pattern coverage,
// reserved namespaces, overlapping provides, the pin, the ceilings) and how its manifest is
// checked. Concurrency 1: the machine is shared, and these tests are in-process and fast.
export default part('orchestra', {
  mutate: ['src/orchestra/grants.ts', 'src/orchestra/manifest.ts'],
  vitestConfig: 'stryker/vitest.orchestra.config.ts',
  concurrency: 1,
  timeoutMS: 3000,
});
