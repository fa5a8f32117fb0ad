// Shared shape of one part's mutation run. Each part mutates only its own sources and runs
// only its own test files (through a vitest config of its own), so a run fits in minutes on a
// shared 2-core machine; the results land in an incremental file committed under
// reports/mutation, so a rerun tests only the mutants whose code or tests changed.
/**
 * @param {string} name the part, as in src/<name>
 * @param {{ mutate: string[], vitestConfig: string, concurrency?: number, timeoutMS?: number }} o
 * @returns {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export function part(name, o) {
  return {
    packageManager: 'npm',
    testRunner: 'vitest',
    plugins: ['@stryker-mutator/vitest-runner'],
    vitest: { configFile: o.vitestConfig, related: false },
    mutate: o.mutate,
    // Each mutant runs only the tests that reached its code in the dry run.
    coverageAnalysis: 'perTest',
    concurrency: o.concurrency ?? 2,
    timeoutMS: o.timeoutMS ?? 10_000,
    timeoutFactor: 2,
    incremental: true,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    reporters: ['clear-text', 'progress'],
    clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
    thresholds: { high: 90, low: 80, break: null },
    tempDirName: `.stryker-tmp/${name}`,
    cleanTempDir: true,
    // The sandbox needs the sources, the tests and the configs; not dist, python, docs or reports.
    ignorePatterns: ['dist', 'python', 'docs', 'bench', 'examples', 'reports', 'coverage', '.symphony'],
  };
}
