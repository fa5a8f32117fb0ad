import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelOptions, ModeAdapter } from '../bootstrap/index.js';
import { loadDefinition, type LoadedSystem } from '../config/index.js';
import { loadBuiltin } from './builtins.js';
import { CLUSTER_USE, withCluster } from './cluster.js';

const ORCHESTRA_USE = 'builtin:orchestra';

/** The program that runs a worker or process component (always the compiled one, also when this runs from src/). */
const HOST_SCRIPT = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'system', 'component-host.js');

/** Imports what `use` points at (a builtin, a module relative to `baseDir`, a package) and checks it is a component. */
export function loadComponent(use: string, baseDir: string): ReturnType<typeof loadDefinition> {
  return loadDefinition(use, baseDir, loadBuiltin);
}

/**
 * Kernel options for a loaded system: `use:` strings resolved relative to the config file (the
 * builtins by the system), and the worker, process and command modes run through its bus.
 */
export function kernelOptions(system: LoadedSystem, extra: Omit<KernelOptions, 'components'> = {}): KernelOptions {
  const busName = system.busName;
  const adapter =
    (kind: 'worker' | 'process' | 'command'): ModeAdapter =>
    async (...args) =>
      (await import('../bus/index.js')).modeAdapters(busName!, system.baseDir, system.isolation ?? 'auto', HOST_SCRIPT)[kind]!(...args);
  return {
    loader: async (use, component) => {
      if (use === CLUSTER_USE) return (await import('../cluster/index.js')).clusterComponent;
      // The Orchestra's plan and sandbox probe need none of its dependencies: begun at load, they
      // run while the stages before it start.
      if (use === ORCHESTRA_USE) return (await import('../orchestra/index.js')).preparedOrchestra(system.components[component]?.with, system.baseDir);
      return loadComponent(use, system.baseDir);
    },
    baseDir: system.baseDir,
    ...(busName ? { modes: { worker: adapter('worker'), process: adapter('process'), command: adapter('command') } } : {}),
    ...extra,
    components: withCluster(system),
    ...(system.stages ? { stages: system.stages } : {}),
  };
}
