/**
 * The layering of src/, checked by `npm test` (test/layering.test.ts) and by
 * `npx depcruise src --config .dependency-cruiser.cjs`.
 *
 *   cli -> system -> conductor -> pit, orchestra -> bus -> config -> bootstrap -> container
 *   cli -> dashboard -> bus, bootstrap, container (the live page the CLI's HTTP listener serves)
 *   system -> cluster -> bus (the cluster: nodes joined through NATS)
 *   util is the base layer (anyone may import it; it imports no part); sandbox sits under orchestra and bus.
 *
 * Parts meet at their faces: src/PART/index.ts, or a light sub-face src/PART/SUB/index.ts (for
 * example the bus's client for the extension host). src/index.ts, the package's face, may import
 * any part's face.
 */
const PARTS = 'bootstrap|bus|cli|cluster|conductor|config|container|dashboard|orchestra|pit|sandbox|system|util';

module.exports = {
  forbidden: [
    { name: 'util-is-the-base', comment: 'util imports no part', severity: 'error', from: { path: '^src/util/' }, to: { path: `^src/(${PARTS})/`, pathNot: '^src/util/' } },
    { name: 'container-imports-no-part', severity: 'error', from: { path: '^src/container/' }, to: { path: `^src/(${PARTS})/`, pathNot: '^src/(container|util)/' } },
    { name: 'bootstrap-only-container', severity: 'error', from: { path: '^src/bootstrap/' }, to: { path: `^src/(${PARTS})/`, pathNot: '^src/(bootstrap|container|util)/' } },
    { name: 'config-not-what-it-configures', comment: 'config reads files; the system assembles the parts', severity: 'error', from: { path: '^src/config/' }, to: { path: `^src/(${PARTS})/`, pathNot: '^src/(config|bootstrap|container|util)/' } },
    { name: 'bus-below-its-users', severity: 'error', from: { path: '^src/bus/' }, to: { path: '^src/(config|pit|orchestra|conductor|cli|system|cluster)/' } },
    { name: 'cluster-on-the-bus', comment: 'the cluster builds on the faces of bus, bootstrap, container and util; the system adds it', severity: 'error', from: { path: '^src/cluster/' }, to: { path: '^src/(config|pit|orchestra|conductor|cli|system|sandbox|dashboard)/' } },
    { name: 'sandbox-is-a-leaf', severity: 'error', from: { path: '^src/sandbox/' }, to: { path: '^src/(bus|config|pit|orchestra|conductor|cli|system)/' } },
    { name: 'pit-orchestra-never-conductor', severity: 'error', from: { path: '^src/(pit|orchestra)/' }, to: { path: '^src/(conductor|cli|system)/' } },
    { name: 'conductor-below-system', severity: 'error', from: { path: '^src/conductor/' }, to: { path: '^src/(cli|system)/' } },
    { name: 'dashboard-sees-only-the-kernel-and-bus', comment: 'the dashboard reads the kernel, its parts and the bus through their faces; the CLI serves it', severity: 'error', from: { path: '^src/dashboard/' }, to: { path: '^src/(config|pit|orchestra|conductor|sandbox|cli|system)/' } },
    { name: 'nothing-imports-cli', severity: 'error', from: { path: '^src/', pathNot: '^src/cli/' }, to: { path: '^src/cli/' } },
    { name: 'only-cli-imports-system', comment: 'and the package face, src/index.ts', severity: 'error', from: { path: '^src/', pathNot: ['^src/(cli|system)/', '^src/index\\.ts$'] }, to: { path: '^src/system/' } },
    {
      name: 'parts-meet-at-faces',
      comment: "another part is imported through its index.ts (or a sub-face SUB/index.ts); util has no face",
      severity: 'error',
      from: { path: `^src/(${PARTS})/` },
      to: { path: `^src/(${PARTS})/`, pathNot: ['^src/$1/', '^src/util/', '^src/[^/]+/index\\.ts$', '^src/[^/]+/[^/]+/index\\.ts$'] },
    },
    { name: 'no-circular-between-parts', comment: 'a part never imports one that imports it back', severity: 'error', from: { path: `^src/(${PARTS})/` }, to: { circular: true, viaOnly: { path: '^src/' }, pathNot: '^src/$1/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
