/**
 * Benchmark entry: `npm run bench` runs every section; `npm run bench -- <section> [args...]` runs
 * one, passing the rest of the arguments to it (e.g. `npm run bench -- kernel boot`).
 * Sections live in their own files and are imported only when they run.
 */
const SECTIONS: Record<string, (args: string[]) => Promise<void>> = {
  kernel: async (args) => (await import('./kernel.js')).kernelBench(args),
  bus: async (args) => (await import('./bus.js')).busBench(args),
  pit: async () => (await import('./pit.js')).pitBench(),
  system: async () => (await import('./system.js')).systemBench(),
  sandbox: async () => (await import('./sandbox.js')).sandboxBench(),
  dashboard: async () => (await import('./dashboard.js')).dashboardBench(),
  cluster: async () => (await import('./cluster.js')).clusterBench(),
};

const [section, ...args] = process.argv.slice(2);
if (section !== undefined && !(section in SECTIONS)) {
  console.error(`unknown bench section '${section}' (known: ${Object.keys(SECTIONS).join(', ')})`);
  process.exit(2);
}
for (const name of section === undefined ? Object.keys(SECTIONS) : [section]) {
  await SECTIONS[name]!(section === undefined ? [] : args);
}
