import * as v from 'valibot';
import { InvalidParamsError, type HandlerContext } from '../bus/index.js';

/** Validates a bus method's params; a mismatch is -32602 naming the method and the field. */
export function parseParams<S extends v.GenericSchema>(method: string, schema: S, params: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, params ?? {});
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
  throw new InvalidParamsError(`${method}: ${path ? `${path}: ` : ''}${issue.message}`, { method, field: path || undefined });
}

/** Params of a method that takes none: any object (extra keys are ignored, as before). */
export const NO_PARAMS = v.looseObject({});

/**
 * One bus method of a Pit service, declared once: its params schema and what it does with them.
 * The name is the key it is served under (see `serve`); the result type is the function's.
 */
export interface MethodSpec<S extends v.GenericSchema, R> {
  readonly params: S;
  readonly run: (args: v.InferOutput<S>, ctx?: HandlerContext) => R;
  /** Checked before the params: who may call it at all (a refusal then does not depend on what was sent). */
  readonly guard?: ((ctx?: HandlerContext) => void) | undefined;
}

/** A method taking `params` (a valibot schema) and answering what `run` returns; `guard`, if given, refuses a caller first. */
export function method<S extends v.GenericSchema, R>(params: S, run: (args: v.InferOutput<S>, ctx?: HandlerContext) => R, guard?: (ctx?: HandlerContext) => void): MethodSpec<S, R> {
  return { params, run, guard };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema, any result: the table's own types are kept by `MethodTypes`
type AnySpec = MethodSpec<any, unknown>;

/** A served method: the bus handler, carrying its params schema (for the docs and the callers' types). */
export type ServedMethod<S extends v.GenericSchema, R> = ((params: unknown, ctx?: HandlerContext) => R) & { readonly schema: S };

type Served<T extends Record<string, AnySpec>> = { readonly [K in keyof T]: T[K] extends MethodSpec<infer S, infer R> ? ServedMethod<S, R> : never };

/** The handlers a service serves: each parses its params (errors naming the method by its key), then runs. */
export function serve<T extends Record<string, AnySpec>>(table: T): Served<T> {
  const out: Record<string, ServedMethod<v.GenericSchema, unknown>> = {};
  for (const name of Object.keys(table)) {
    const spec = table[name]!;
    const { guard, run, params: schema } = spec;
    const handler = guard
      ? (params: unknown, ctx?: HandlerContext) => {
          guard(ctx);
          return run(parseParams(name, schema, params), ctx);
        }
      : (params: unknown, ctx?: HandlerContext) => run(parseParams(name, schema, params), ctx);
    out[name] = Object.assign(handler, { schema });
  }
  return out as Served<T>;
}

/**
 * What callers see of a served table: per method, the params it takes and the result it answers.
 * The Conductor types its calls with it, so a reply is never cast by hand.
 */
export type MethodTypes<H> = {
  [K in keyof H]: H[K] extends ServedMethod<infer S, infer R> ? { params: v.InferInput<S>; result: Awaited<R> } : never;
};

export { v };
