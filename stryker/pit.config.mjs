import { part } from './part.mjs';

export default part('pit', {
  mutate: ['src/pit/**/*.ts', '!src/pit/index.ts'],
  vitestConfig: 'stryker/vitest.pit.config.ts',
  timeoutMS: 5000,
});
