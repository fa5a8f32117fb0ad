import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineComponent, suggest, type ComponentContext } from '../bootstrap/index.js';
import { ForbiddenError, InvalidParamsError, type Bus, type HandlerContext } from '../bus/index.js';
import { Conductor } from './conductor.js';
import { MelodyError, readMelody } from './melody.js';
import { builtinPolicy, remotePolicy, type DecisionPolicy } from './policy.js';
import type { MelodyResult } from './result.js';
import { ConductorSettingsSchema } from './settings/index.js';
import { parseSettings } from '../util/settings.js';

/** What the bus answers with itself (a registered symbol: the same for every copy of the bus's module). */
const BUS_IDENTITY = Symbol.for('symphony.bus');

/** A melody named by file (a path) or given as it is, and the inputs it runs with. */
interface MelodyParams {
  file?: string;
  melody?: unknown;
  inputs?: Record<string, unknown>;
}

/**
 * The bus methods `builtin:conductor` serves, declared once: its handlers are checked against these
 * (name and result), and callers (the CLI's `symphony run`) type their replies with them.
 */
export interface ConductorMethods {
  'melody.run': { params: MelodyParams; result: MelodyResult };
  'melody.validate': { params: MelodyParams; result: { ok: true } };
  'melody.result': { params: { run: string }; result: MelodyResult | null };
  'melody.status': { params: Record<string, never>; result: ReturnType<Conductor['stats']> };
  'conductor.status': { params: Record<string, never>; result: ReturnType<Conductor['stats']> };
  'conductor.report': { params: { events: unknown[] }; result: ReturnType<Conductor['report']> };
  'conductor.decide': { params: unknown; result: Awaited<ReturnType<DecisionPolicy['decide']>> };
}

/**
 * `builtin:conductor`: runs Melodies. Serves `melody.run`, `melody.validate`, `melody.result`,
 * `conductor.status`, and (unless another peer already is the maestro) `conductor.report` and
 * `conductor.decide` with the built-in policy.
 */
export const conductorComponent = defineComponent({
  async start(ctx: ComponentContext<{ bus: Bus }>): Promise<Conductor> {
    // The bus itself, or the one a dependency runs on (the contract's conductor needs only the orchestra),
    // told by its identity: a `command:` peer's proxy answers every method name a bus has.
    const isBus = (x: unknown): x is Bus => (typeof x === 'object' || typeof x === 'function') && x !== null && (x as Record<symbol, unknown>)[BUS_IDENTITY] === x;
    const deps = Object.values(ctx.deps as Record<string, unknown>);
    const bus = deps.find(isBus) ?? (deps.map((d) => (d as { bus?: unknown } | null)?.bus).find(isBus) as Bus | undefined);
    if (!bus) throw new TypeError('builtin:conductor needs the bus: add needs: [bus] (or needs: [orchestra], which runs on it)');
    const settings = parseSettings(ConductorSettingsSchema, ctx.config, { builtin: 'conductor', component: ctx.name }, suggest);
    const choice = settings.policy ?? 'builtin';
    const policy = choice === 'builtin' ? builtinPolicy : remotePolicy(bus, choice === 'remote' ? 'conductor.decide' : choice, settings.policyTimeoutMs ?? 1000);
    const conductor = new Conductor(bus, policy, ctx.log);
    conductor.status = 'Starting';
    type Result<M extends keyof ConductorMethods> = ConductorMethods[M]['result'];
    const serve = <M extends keyof ConductorMethods>(method: M, fn: (p: any, ctx: HandlerContext) => Result<M> | Promise<Result<M>>) => conductor.registrations.push(bus.handle(method, fn));
    const folders = (settings.melodies ?? ['melodies']).map((f) => resolve(ctx.baseDir, f));
    const melodyOf = async (p: { melody?: unknown; file?: string }, caller: string) => {
      if (p?.file !== undefined) {
        if (typeof p.file !== 'string' || !p.file) throw new InvalidParamsError('file must be a path to a melody file');
        const path = resolve(ctx.baseDir, p.file);
        if (caller !== bus.name) {
          await allowedMelodyFile(path, folders, caller).catch((err: Error) => {
            // The operator hears of it too: a caller probing files outside the melody folders.
            ctx.log.warn(`denied: ${err.message}`);
            throw err;
          });
        }
        return readMelody(path);
      }
      if (p?.melody === undefined) throw new InvalidParamsError('give { melody } (the melody itself) or { file } (a melody file)');
      return p.melody;
    };
    const asParamsError = (err: unknown): never => {
      if (err instanceof MelodyError) throw new InvalidParamsError(err.message, { problems: err.problems });
      throw err;
    };
    // Cancelling the request (the caller's AbortSignal, $/cancelRequest, the caller gone) cancels the run.
    serve('melody.run', async (p, hctx) => {
      const melody = await melodyOf(p, hctx.peer).catch(asParamsError);
      // The run carries its caller's rights: a step can do no more than the caller could itself.
      return conductor.run(melody, p?.inputs ?? {}, { signal: hctx.signal, principal: hctx.peer === bus.name ? undefined : hctx.peer }).catch(asParamsError);
    });
    serve('melody.validate', async (p, hctx) => {
      const melody = await melodyOf(p, hctx.peer).catch(asParamsError);
      try {
        conductor.validate(melody, p?.inputs ?? {});
      } catch (err) {
        asParamsError(err);
      }
      return { ok: true } as const;
    });
    serve('melody.result', (p: { run?: string }) => conductor.result(String(p?.run)) ?? null);
    serve('melody.status', () => conductor.stats());
    if (!bus.serves('conductor.status')) serve('conductor.status', () => conductor.stats());
    // The maestro's own methods, unless another peer (the Python Conductor) is the maestro.
    if (!bus.serves('conductor.report')) serve('conductor.report', (p: { events?: unknown[] }) => conductor.report(Array.isArray(p?.events) ? p.events : []));
    if (!bus.serves('conductor.decide') && choice === 'builtin') serve('conductor.decide', (q) => builtinPolicy.decide(q));
    conductor.status = 'Running';
    return conductor;
  },
  health(conductor) {
    return { status: conductor.status === 'Running' ? 'healthy' : 'unhealthy', detail: conductor.stats() };
  },
  async stop(conductor) {
    conductor.status = 'Stopping';
    for (const r of conductor.registrations.splice(0)) r.unregister();
    conductor.status = 'Stopped';
  },
});

/**
 * A melody file a caller other than the kernel may name: inside one of the configured folders once
 * every symlink is resolved (a link leading out is refused like a path outside), checked before a
 * byte of it is read, so no error can carry the content of a file the caller may not read.
 */
async function allowedMelodyFile(path: string, folders: string[], caller: string): Promise<void> {
  const inside = (dir: string, p: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  const real = await realpath(path).catch(() => undefined);
  const realFolders = await Promise.all(folders.map((f) => realpath(f).catch(() => f)));
  if (real !== undefined && realFolders.some((f) => inside(f, real))) return;
  throw new ForbiddenError(
    `'${caller}' may not read melody file ${path}: melody files must be inside ${folders.join(' or ')} (builtin:conductor with: { melodies: [...] } lists the folders)`,
    { peer: caller, file: path },
  );
}
