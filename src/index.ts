/**
 * Symphony's public API: the typed DI container, the staged bootstrap manager (kernel), the typed
 * builder, the config layer that reads YAML/TOML files, and the system that turns them into kernels.
 */
import { Kernel, type KernelOptions } from './bootstrap/index.js';

export * from './container/index.js';
export {
  BootAbandonedError,
  BootError,
  DependencyFailedError,
  GraphError,
  HealthCheckError,
  Kernel,
  KernelBuilder,
  KernelError,
  LateBindingError,
  StartTimeoutError,
  SwapError,
  analyzeGraph,
  criticalPath,
  defineComponent,
  isComponentDefinition,
  kernel,
  type AnyComponentDefinition,
  type BootFailure,
  type BootPlan,
  type GraphNode,
  type GraphProblem,
  type BootReport,
  type ComponentContext,
  type ComponentDefinition,
  type ComponentEvent,
  type ComponentOptions,
  type ComponentReport,
  type ComponentState,
  type ExecutionMode,
  type Handle,
  type HealthResult,
  type HealthStatus,
  type KernelEvent,
  type KernelExit,
  type KernelOptions,
  type LateHandle,
  type Logger,
  normalizeSpec,
  type RestartStrategy,
  type RestartType,
  type Shutdown,
  type LogEvent,
  type StageEvent,
  type StopContext,
  type SystemEvent,
} from './bootstrap/index.js';
export { ConfigError, formatDiagnostic, type Diagnostic, type LoadedSystem } from './config/index.js';
export { kernelOptions, loadSystem } from './system/index.js';

/**
 * Creates a kernel from the config shape (docs/components.md). `use` may be a definition object or
 * a string (`builtin:NAME`, a module path relative to `baseDir`, default the working directory, or
 * a package name); strings are imported when the boot starts.
 */
export function createKernel<Instances extends Record<string, unknown> = Record<string, unknown>>(
  options: KernelOptions & { baseDir?: string },
): Kernel<Instances> {
  const { baseDir = process.cwd(), ...rest } = options;
  return new Kernel<Instances>({
    loader: async (use) => (await import('./system/index.js')).loadComponent(use, baseDir),
    baseDir,
    ...rest,
  });
}
