/**
 * Reverse-dependency teardown, shared by the container's disposal and the kernel's stop and rollback:
 * a node is torn down only after every node that depends on it; independent nodes go concurrently;
 * each gets its own deadline; a failure or a timeout is collected and never blocks the rest.
 */
export interface TeardownPlan<N> {
  /** The nodes that `node` depends on. Edges to nodes outside the set are ignored. */
  dependenciesOf(node: N): Iterable<N>;
  /** Tears one node down. The signal aborts when its deadline passes. */
  stop(node: N, signal: AbortSignal): unknown;
  /** Deadline for one node, in milliseconds. */
  timeoutMs(node: N): number;
  /** The node's name, for error messages. */
  describe(node: N): string;
  /** Called when a node begins and ends its teardown (`error` set when it failed). */
  onStopping?(node: N): void;
  onStopped?(node: N, error?: Error): void;
}

/** Thrown (collected) when a teardown step passes its deadline. */
export class StopTimeoutError extends Error {
  override name = 'StopTimeoutError';
  constructor(readonly component: string, readonly timeoutMs: number) {
    super(`'${component}' did not stop within ${timeoutMs}ms`);
  }
}

/** A teardown step that threw; `cause` holds what it threw. */
export class StopError extends Error {
  override name = 'StopError';
  constructor(readonly component: string, cause: unknown) {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`'${component}' failed to stop: ${text}`, { cause });
  }
}

/** Runs the plan; resolves with the errors collected (empty when every node stopped cleanly). */
export function teardownInReverse<N>(nodes: Iterable<N>, plan: TeardownPlan<N>): Promise<Error[]> {
  const members = new Set(nodes);
  const errors: Error[] = [];
  if (members.size === 0) return Promise.resolve(errors);

  // remaining[n] = how many of n's dependents are still up; n may stop when it reaches 0.
  const remaining = new Map<N, number>();
  const deps = new Map<N, N[]>();
  for (const n of members) remaining.set(n, 0);
  for (const n of members) {
    const own: N[] = [];
    for (const d of plan.dependenciesOf(n)) {
      if (d === n || !members.has(d) || own.includes(d)) continue;
      own.push(d);
      remaining.set(d, remaining.get(d)! + 1);
    }
    deps.set(n, own);
  }

  return new Promise<Error[]>((resolve) => {
    let left = members.size;
    let running = 0;
    const finish = (n: N, error?: Error) => {
      if (error) errors.push(error);
      plan.onStopped?.(n, error);
      running--;
      left--;
      for (const d of deps.get(n)!) {
        const r = remaining.get(d)! - 1;
        remaining.set(d, r);
        if (r === 0) launch(d);
      }
      if (left === 0) resolve(errors);
      else if (running === 0) breakCycle();
    };
    const launch = (n: N) => {
      remaining.set(n, -1); // launched
      running++;
      plan.onStopping?.(n);
      runOne(n, plan).then((err) => finish(n, err));
    };
    // Only reachable if the caller passed a cycle: stop the rest anyway, in reverse of the given order.
    const breakCycle = () => {
      for (const n of [...members].reverse()) if (remaining.get(n)! >= 0) return launch(n);
    };
    const roots = [...members].filter((n) => remaining.get(n) === 0);
    if (roots.length === 0) breakCycle();
    else for (const n of roots) launch(n);
  });
}

async function runOne<N>(node: N, plan: TeardownPlan<N>): Promise<Error | undefined> {
  const name = plan.describe(node);
  const ms = plan.timeoutMs(node);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Error>((resolve) => {
    timer = setTimeout(() => {
      const err = new StopTimeoutError(name, ms);
      controller.abort(err);
      resolve(err);
    }, ms);
  });
  try {
    const work = Promise.resolve()
      .then(() => plan.stop(node, controller.signal))
      .then(
        () => undefined,
        (cause: unknown) => new StopError(name, cause),
      );
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
