import * as v from 'valibot';
import { InvalidParamsError } from '../bus/index.js';

/** Validates a bus method's params; a mismatch is -32602 naming the method and the field. */
export function parseParams<S extends v.GenericSchema>(method: string, schema: S, params: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, params ?? {});
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
  throw new InvalidParamsError(`${method}: ${path ? `${path}: ` : ''}${issue.message}`, { method, field: path || undefined });
}

export { v };
