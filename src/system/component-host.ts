/**
 * Runs one component outside the kernel process (`mode: worker` or `mode: process`): joins the
 * bus, gives the component proxies of its dependencies (their methods over the bus), starts it,
 * and serves its instance's methods as `component.<name>.<method>`, plus `__health` and `__stop`.
 * It is a program of the system's (it loads the component with the config layer's loader), which
 * the bus's modes start by the path the system gives them.
 */
import { workerData } from 'node:worker_threads';
import type { ComponentContext, Handle, LateHandle, Logger } from '../bootstrap/index.js';
import { loadDefinition } from '../config/index.js';
import { BusError, connect, ErrorCode } from '../bus/client/index.js';

interface Spec {
  name: string;
  use: string;
  baseDir: string;
  config: unknown;
  deps: string[];
  busName: string;
}

const fromWorker = (workerData as { data?: Spec } | null)?.data;
const spec: Spec = fromWorker ?? (JSON.parse(process.env.SYMPHONY_COMPONENT ?? 'null') as Spec);

const write = (level: string) => (message: string, data?: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ level, component: spec.name, message, ...(data ? { data } : {}) })}\n`);
const log: Logger = { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };

async function main(): Promise<void> {
  const bus = await connect({ name: spec.name });
  const proxy = (dep: string) =>
    new Proxy(
      {},
      {
        get: (_t, prop) =>
          typeof prop !== 'string' || prop === 'then' || prop === 'toJSON' ? undefined : (...args: unknown[]) => bus.request(`component.${dep}.${prop}`, args),
      },
    );
  const deps: Record<string, unknown> = {};
  for (const d of spec.deps) deps[d] = d === spec.busName ? bus : proxy(d);
  const definition = await loadDefinition(spec.use, spec.baseDir);
  const controller = new AbortController();
  const deadline = performance.now() + 10 * 60_000;
  const handles: Record<string, Handle<unknown>> = {};
  for (const d of spec.deps) handles[d] = { name: d, ready: true, current: deps[d] };
  const ctx: ComponentContext = {
    name: spec.name,
    deps,
    handles,
    late: {} as Record<string, LateHandle<unknown>>,
    config: spec.config,
    baseDir: spec.baseDir,
    signal: controller.signal,
    deadline,
    remainingMs: () => Math.max(0, deadline - performance.now()),
    attempt: 1,
    log,
    part: () => () => {}, // parts of a hosted start are not reported across the process boundary
    fail: (error: unknown) => {
      log.error(`failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  };
  const instance = (await definition.start(ctx)) as Record<string, unknown>;
  const prefix = `component.${spec.name}.`;
  const served = bus.handle(`component.${spec.name}.*`, async (args: unknown, hctx) => {
    const method = hctx.method.slice(prefix.length);
    if (method === '__health') return definition.health ? definition.health(instance) : true;
    if (method === '__stop') {
      await definition.stop?.(instance, { name: spec.name, signal: controller.signal, reason: 'shutdown', log });
      setImmediate(() => process.exit(0));
      return true;
    }
    const fn = instance?.[method];
    if (typeof fn !== 'function' || method.startsWith('_')) throw new BusError(ErrorCode.MethodNotFound, `component '${spec.name}' has no method '${method}'`);
    return (fn as (...a: unknown[]) => unknown).apply(instance, Array.isArray(args) ? args : [args]);
  });
  await served.ready;
  bus.ready();
}

main().catch((err: unknown) => {
  log.error(`could not start: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  process.exit(1);
});
