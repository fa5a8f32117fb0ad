/**
 * The bootstrap manager: staged boot of a component graph with health gates, deadlines, retries,
 * rollback, late binding, supervision and swapping; the typed builder; graph checks; the boot report.
 * Built on the container; knows nothing of the bus, the Pit, the Orchestra Kit or the Conductor.
 */
export {
  defineComponent,
  EXECUTION_MODES,
  isComponentDefinition,
  modeList,
  type AnyComponentDefinition,
  type ComponentContext,
  type ComponentDefinition,
  type ComponentOptions,
  type ComponentState,
  type DefinitionLoader,
  type ExecutionMode,
  type Handle,
  type HealthResult,
  type HealthStatus,
  type KernelOptions,
  type LateHandle,
  type Logger,
  type ModeAdapter,
  type RestartStrategy,
  type RestartType,
  type Shutdown,
  type StopContext,
} from './definition.js';
export { Kernel, createKernel, type KernelExit } from './kernel.js';
export { kernel, KernelBuilder, type BuildCheck, type BuilderOptions, type DefinitionCheck, type OptionsCheck } from './builder.js';
export {
  BootAbandonedError,
  BootError,
  DependencyFailedError,
  GraphError,
  HealthCheckError,
  KernelError,
  LateBindingError,
  StartTimeoutError,
  SwapError,
} from './errors.js';
export type { ComponentEvent, EventError, KernelEvent, KernelEventType, LogEvent, StageEvent, SystemEvent } from './events.js';
export { analyzeGraph, dependentsClosure, needsClosure, suggest, type BootPlan, type GraphAnalysis, type GraphNode, type GraphProblem, type GraphWarning } from './graph.js';
export { criticalPath, ISOLATION, isolationOf, overallIsolation, type BootFailure, type BootReport, type ComponentReport, type IsolationFacts, type IsolationLevel } from './report.js';
export { DEFAULTS, normalizeSpec, RESTART_TYPES, SHUTDOWN_KINDS, type ComponentSpec } from './spec.js';
export { STRATEGIES, STRATEGY_NAMES, STRATEGY_SUMMARIES, type Strategy, type StrategyName } from './strategies.js';
