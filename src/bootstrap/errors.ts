import type { BootReport } from './report.js';

/** Base class of the kernel's own errors. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** A start, or its readiness gate, passed its deadline. Names the component that was late, never the ones waiting on it. */
export class StartTimeoutError extends KernelError {
  override name = 'StartTimeoutError';
  constructor(
    readonly component: string,
    readonly timeoutMs: number,
    readonly during: 'start' | 'health' = 'start',
  ) {
    super(
      during === 'start'
        ? `'${component}' did not start within ${timeoutMs}ms`
        : `'${component}' started but did not become healthy within ${timeoutMs}ms`,
    );
  }
}

/** The readiness gate saw `threshold` failed probes in a row. */
export class HealthCheckError extends KernelError {
  override name = 'HealthCheckError';
  constructor(
    readonly component: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

/** The boot was abandoned (a signal, `stop()`, or another component's failure) while this work was under way. */
export class BootAbandonedError extends KernelError {
  override name = 'BootAbandonedError';
}

/** A required component could not start because something it needs did not. */
export class DependencyFailedError extends KernelError {
  override name = 'DependencyFailedError';
  constructor(
    readonly component: string,
    readonly dependency: string,
  ) {
    super(`'${component}' needs '${dependency}', which is not running`);
  }
}

/**
 * A late handle was used before its target was ready (or while it restarts). Names the target,
 * its stage, and the component that used the handle.
 */
export class LateBindingError extends KernelError {
  override name = 'LateBindingError';
  constructor(
    readonly target: string,
    readonly targetStage: number,
    readonly user: string,
    readonly targetState: string,
  ) {
    super(
      `'${user}' used its late handle to '${target}' (stage ${targetStage}) before '${target}' was ready (state: ${targetState}); await ctx.late.${target}.ready first`,
    );
  }
}

/** The graph is not bootable: missing dependencies, cycles, bad stages. `problems` lists each. */
export class GraphError extends KernelError {
  override name = 'GraphError';
  constructor(readonly problems: readonly { message: string }[]) {
    super(problems.length === 1 ? problems[0]!.message : `${problems.length} problems:\n  ${problems.map((p) => p.message).join('\n  ')}`);
  }
}

/** `start()` failed; the report says which component, in which phase, and what was rolled back. */
export class BootError extends KernelError {
  override name = 'BootError';
  constructor(
    message: string,
    readonly report: BootReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A swap that did not take; `rolledBack` says the old instance is in place again. */
export class SwapError extends KernelError {
  override name = 'SwapError';
  constructor(
    message: string,
    readonly component: string,
    readonly rolledBack: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
