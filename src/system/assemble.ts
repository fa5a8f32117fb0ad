import type { KernelOptions, ModeAdapter } from '../bootstrap/index.js';
import { loadDefinition, type LoadedSystem } from '../config/index.js';
import { loadBuiltin } from './builtins.js';
import { CLUSTER_USE, withCluster } from './cluster.js';

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
      (await import('../bus/index.js')).modeAdapters(busName!, system.baseDir, system.isolation)[kind]!(...args);
  return {
    loader: async (use) => (use === CLUSTER_USE ? (await import('../cluster/index.js')).clusterComponent : loadComponent(use, system.baseDir)),
    baseDir: system.baseDir,
    ...(busName ? { modes: { worker: adapter('worker'), process: adapter('process'), command: adapter('command') } } : {}),
    ...extra,
    components: withCluster(system),
    ...(system.stages ? { stages: system.stages } : {}),
  };
}
